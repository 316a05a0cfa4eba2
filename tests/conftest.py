"""Shared test setup: never touch a model hub.

Set at import time, before any test module imports huggingface_hub (which reads these once).
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
