"""Shared fixtures. The bundled placeholder model is built once per session in a temp dir."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep models the tests build out of the user's cache, and never touch a hub."""
    os.environ.setdefault("GPTOSS_LAB_CACHE", str(tmp_path_factory.mktemp("gptoss_lab_cache")))
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
