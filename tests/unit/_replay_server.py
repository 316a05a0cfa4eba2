"""A tiny local HTTP server for the remote-client tests: replays recorded streams, records requests.

Standard library only (``http.server`` in a thread on 127.0.0.1, port 0). A route answers
``(method, path)`` with a status, a content type and either bytes or a generator of byte
chunks (written and flushed one by one, so the client sees a real stream). A chunked route
sends HTTP/1.1 chunked encoding; a :data:`CUT` piece in it drops the connection mid-chunk,
as a proxy or a crashed server does.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[1] / "data" / "remote"
#: yielded by a chunked route's body: promise a chunk, send part of it, drop the connection
CUT = b"\x00cut"


@dataclass
class Route:
    status: int = 200
    content_type: str = "text/event-stream"
    body: bytes | Callable[[], Iterable[bytes]] = b""
    chunked: bool = False


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ReplayServer:
    routes: dict[tuple[str, str], Route] = field(default_factory=dict)
    #: routes whose answer depends on the request
    dynamic: dict[tuple[str, str], Callable[[Request], Route]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    disconnected: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def replay(
        self, path: str, filename: str, content_type: str = "text/event-stream", cut_at: int | None = None
    ) -> None:
        """POST ``path`` answers with the recorded file, streamed line by line (chunked, and dropped
        after ``cut_at`` lines, when ``cut_at`` is given)."""
        lines = (DATA / filename).read_bytes().splitlines(keepends=True)
        if cut_at is None:
            self.routes["POST", path] = Route(200, content_type, lambda: iter(lines))
        else:
            self.routes["POST", path] = Route(200, content_type, lambda: iter([*lines[:cut_at], CUT]), chunked=True)

    def file(self, method: str, path: str, filename: str, content_type: str, status: int = 200) -> None:
        """``(method, path)`` answers with a file from tests/data/remote as one body."""
        self.routes[method, path] = Route(status, content_type, (DATA / filename).read_bytes())

    def json(self, method: str, path: str, obj: Any, status: int = 200) -> None:
        self.routes[method, path] = Route(status, "application/json", json.dumps(obj).encode())

    def models(self, *names: str) -> None:
        self.json("GET", "/v1/models", {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

    def posted(self) -> list[Any]:
        return [r.body for r in self.requests if r.method == "POST"]


def _handler(server: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            request = Request(method, self.path, dict(self.headers), body)
            server.requests.append(request)
            key = (method, self.path)
            route = server.dynamic[key](request) if key in server.dynamic else server.routes.get(key)
            if route is None:
                route = Route(404, "application/json", b'{"detail": "Not Found"}')
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if isinstance(route.body, bytes):
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)
                return
            self.send_header("Connection", "close")  # a stream ends when the connection does
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for piece in route.body():
                    if piece is CUT:
                        self.wfile.write(b"64\r\npartial")  # 100 bytes promised, 7 sent
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if route.chunked else piece)
                    self.wfile.flush()
                if route.chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                server.disconnected.set()

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

    return Handler


def serve() -> Iterator[ReplayServer]:
    """Start a ReplayServer; stop it when the generator is closed (use as a pytest fixture)."""
    state = ReplayServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), name="replay-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
