"""Every option's rule, checked once, before anything loads; a broken rule is one :class:`OptionError`.

No torch here: the checks run before the model is loaded (device availability is asked of torch
later, at load, by :mod:`gptoss_lab.model`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal, get_args

from .errors import OptionError

__all__ = [
    "DEFAULT_EFFORT",
    "DEFAULT_MAX_NEW_TOKENS",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOOL_ROUNDS",
    "DTYPES",
    "EFFORTS",
    "MIN_TEMPERATURE",
    "SERVER_CONTEXT_SHARE",
    "Generation",
    "check_device",
    "check_dtype",
    "check_effort",
    "check_generation",
    "check_text",
    "default_max_new_tokens",
]

#: harmony's reasoning efforts (the system message's ``Reasoning:`` line), and the one used when none is named
Effort = Literal["low", "medium", "high"]
EFFORTS: tuple[str, ...] = get_args(Effort)
DEFAULT_EFFORT: Effort = "medium"
#: Most tokens a reply writes (reasoning + answer) when no limit is given, by model family and effort.
#: "nano": the bundled model and checkpoints trained by gptoss_lab.nano.train, whose longest reference
#: replies (nano/eval.py's MAX_NEW_TOKENS: 160, 320, 1100) fit with room to spare. "gpt-oss": every other
#: model; at high effort gpt-oss often reasons for thousands of tokens (hard maths for tens of thousands).
#: Either is lowered to what the context leaves (see :func:`default_max_new_tokens`).
DEFAULT_MAX_NEW_TOKENS: dict[str, dict[str, int]] = {
    "nano": {"low": 256, "medium": 512, "high": 1280},
    "gpt-oss": {"low": 4096, "medium": 16384, "high": 32768},
}
#: A server judges the prompt's length itself: a default limit takes at most this share of its stated context.
SERVER_CONTEXT_SHARE = 0.5
#: seconds a server may stay silent
DEFAULT_TIMEOUT = 600.0
#: Rounds of tool calls one ask runs at most before it stops with the last call unanswered (Lab.ask's max_tool_rounds)
DEFAULT_TOOL_ROUNDS = 8

#: Below this (and above 0, which is greedy) a temperature only overflows the softmax: logits / 1e-45 is inf.
MIN_TEMPERATURE = 0.01
#: torch.Generator.manual_seed takes 0 .. 2**64 - 1 (servers take what they take).
MAX_SEED = 2**64 - 1
DTYPES = ("float32", "bfloat16", "float16")
_DTYPE_ALIASES = {"fp32": "float32", "float": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16"}
_DEVICE = re.compile(r"(cpu|mps|cuda(:\d+)?)")


@dataclass(frozen=True)
class Generation:
    """Checked generation options; None: the model's (or server's) default."""

    effort: str = DEFAULT_EFFORT
    max_new_tokens: int | None = None  # None: default_max_new_tokens for the model and effort
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    #: a checked :class:`~gptoss_lab.interventions.Interventions` to put on the model for this reply (None: none)
    interventions: Any = None


def _number(name: str, value: Any, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise OptionError(f"{name} must be a number, got {value!r} ({type(value).__name__}): e.g. {flag} 0.7")
    number = float(value)
    if not math.isfinite(number):
        raise OptionError(f"{name} must be a finite number, got {value!r}: e.g. {flag} 0.7")
    return number


def _whole(name: str, value: Any, flag: str, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise OptionError(
            f"{name} must be a whole number, got {value!r} ({type(value).__name__}): e.g. {flag} {example}"
        )
    return int(value)


def check_temperature(value: Any) -> float | None:
    if value is None:
        return None
    t = _number("temperature", value, "--temperature")
    if t < 0 or 0 < t < MIN_TEMPERATURE:
        raise OptionError(
            f"temperature must be 0 (greedy) or at least {MIN_TEMPERATURE}, got {value!r}: "
            "use --temperature 0 for the most likely token, or a value such as 0.7"
        )
    return t


def check_effort(effort: Any) -> str:
    """One of :data:`EFFORTS`, or an OptionError (a ValueError) saying which to use."""
    if effort not in EFFORTS:
        raise OptionError(
            f"effort must be low, medium or high, got {effort!r}: use --effort low|medium|high (effort='high')"
        )
    return str(effort)


def check_generation(
    *,
    effort: Any = DEFAULT_EFFORT,
    max_new_tokens: Any = None,
    temperature: Any = None,
    top_p: Any = None,
    seed: Any = None,
) -> Generation:
    """The options of one reply, checked: type, range, finiteness (``max_new_tokens`` None: the default)."""
    effort = check_effort(effort)
    n = None if max_new_tokens is None else _whole("max_new_tokens", max_new_tokens, "--max-tokens", 256)
    if n is not None and n < 1:
        raise OptionError(f"max_new_tokens must be at least 1, got {n}: e.g. --max-tokens 256")
    p = None if top_p is None else _number("top_p", top_p, "--top-p")
    if p is not None and not 0 < p <= 1:
        raise OptionError(f"top_p must be in (0, 1], got {top_p!r}: e.g. --top-p 0.9 (1 keeps every token)")
    s = None if seed is None else _whole("seed", seed, "--seed", 1)
    if s is not None and not 0 <= s <= MAX_SEED:
        raise OptionError(f"seed must be a whole number from 0 to 2**64 - 1, got {s}: e.g. --seed 1")
    return Generation(effort, n, check_temperature(temperature), p, s)


def default_max_new_tokens(effort: str, family: str = "gpt-oss", room: int | None = None) -> int:
    """The token limit of a reply given none: :data:`DEFAULT_MAX_NEW_TOKENS` for the model ``family`` and
    ``effort``, lowered to ``room`` (the tokens the context leaves after the prompt) when that is known and
    above 0 (at 0 or below the context guard refuses the prompt anyway)."""
    limit = DEFAULT_MAX_NEW_TOKENS[family][check_effort(effort)]
    return min(limit, room) if room is not None and room > 0 else limit


def check_text(name: str, value: Any, *, optional: bool = False) -> str | None:
    """A prompt (or developer text): a str that is valid Unicode (no lone surrogates)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise OptionError(
            f"{name} must be text (str), got {type(value).__name__} {value!r:.60}: pass str(...) if you meant its text"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        bad = value[err.start : err.end]
        raise OptionError(
            f"{name} holds {bad!r} at character {err.start}, half of a character (a lone surrogate) that no "
            "tokenizer can encode: remove it (text.encode('utf-8', 'replace').decode() turns it into '?')"
        ) from None
    return value


def check_dtype(dtype: Any) -> str | None:
    """A dtype name from :data:`DTYPES` (or an alias such as bf16); None: chosen for the device."""
    if dtype is None:
        return None
    name = _DTYPE_ALIASES.get(str(dtype).lower(), str(dtype).lower())
    if name in ("float64", "double", "fp64"):
        raise OptionError(
            f"dtype {dtype!r} cannot run gpt-oss: its expert kernel (grouped_mm) takes float32, bfloat16 or "
            "float16 only, and float64 would double float32's memory: use --dtype float32"
        )
    if name not in DTYPES:
        raise OptionError(f"dtype must be {'|'.join(DTYPES)}, got {dtype!r}: e.g. --dtype float32 (or leave it out)")
    return name


def check_device(device: Any, cuda_visible: bool) -> str | None:
    """A device name (cpu, cuda, cuda:N, mps); a CUDA device where no GPU is visible is refused here."""
    if device is None:
        return None
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise OptionError(f"device must be cpu, cuda, cuda:N or mps, got {device!r}: e.g. --device cpu")
    if device.startswith("cuda") and not cuda_visible:
        raise OptionError(
            f"--device {device}: no CUDA here (no NVIDIA GPU is visible): use --device cpu or leave it out"
        )
    return device


def check_timeout(timeout: Any) -> float:
    t = _number("timeout", timeout, "--timeout")
    if t <= 0:
        raise OptionError(f"timeout must be a number of seconds above 0, got {timeout!r}: e.g. --timeout 600")
    return t
