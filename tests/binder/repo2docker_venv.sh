#!/usr/bin/env bash
# repo2docker in a venv of its own (build/repo2docker-venv): tests/binder reads its build plan, offline.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x build/repo2docker-venv/bin/repo2docker ]; then
    python3 -m venv build/repo2docker-venv
    build/repo2docker-venv/bin/python -m pip install --quiet jupyter-repo2docker
fi
build/repo2docker-venv/bin/repo2docker --version
