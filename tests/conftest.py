"""Shared test setup: never touch a model hub, keep built models out of the user's cache.

Set at import time, before any test module imports huggingface_hub (which reads these once).
"""

from __future__ import annotations

import os
import tempfile

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("GPTOSS_LAB_CACHE", tempfile.mkdtemp(prefix="gptoss_lab_test_cache_"))
