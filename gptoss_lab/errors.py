"""What the shells may turn into one line: :class:`GptOssLabError` and its few subclasses.

Each is raised where input is checked, with a message that says the rule, the value and the fix.
The magics, the CLI and the widgets show these as one line; any other exception is a bug and
keeps its traceback. Each subclass also derives from the built-in type older code caught
(``OptionError`` is a ``ValueError``, ``ServerError`` an ``OSError``, ...).
"""

from __future__ import annotations

import copy

__all__ = [
    "CheckpointError",
    "ContextTooLongError",
    "GptOssLabError",
    "LabBusy",
    "MissingPackageError",
    "ModelNotFoundError",
    "NeedsLocalModel",
    "OptionError",
    "ServerError",
    "WontFitError",
    "with_note",
]


class GptOssLabError(Exception):
    """An error in what was asked, not in the code: its message is one line saying what to type."""


class OptionError(GptOssLabError, ValueError):
    """An option with a value it cannot take (a type, a range, a name)."""


class WontFitError(GptOssLabError, MemoryError):
    """The model would not fit in the free memory: refused before anything loads."""


class ModelNotFoundError(GptOssLabError, FileNotFoundError):
    """No model by that name: not a directory, not a hub id, not in the cache."""


class CheckpointError(GptOssLabError, ValueError):
    """A checkpoint file is damaged or malformed; the message names the file."""


class ServerError(GptOssLabError, OSError):
    """The server could not be reached or refused the request."""


class ContextTooLongError(GptOssLabError, ValueError):
    """The prompt plus the tokens asked for exceed the model's context."""


class NeedsLocalModel(GptOssLabError, ValueError):
    """A view that reads the model's insides (routing, attention) asked of a server's reply."""


class MissingPackageError(GptOssLabError, ImportError):
    """An optional package is not installed; the message gives the pip command."""


class LabBusy(GptOssLabError, RuntimeError):
    """The Lab is already writing a reply (another thread, e.g. a Playground, asked first)."""


def with_note(err: GptOssLabError, note: str) -> GptOssLabError:
    """A copy of ``err`` (same type) whose one-line message ends with ``note``."""
    out = copy.copy(err)
    out.args = (f"{err}: {note}",)
    return out
