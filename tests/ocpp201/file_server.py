"""A small HTTP(S) file server on loopback for the firmware and log tests, independent of the
station's own HTTP client: the standard library's threaded server. GET serves files the test
put; PUT and POST are recorded as uploads. The paths under a prefix can be made to answer a
status instead."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FileServer:
    files: dict[str, bytes] = field(default_factory=dict)  # path -> content, for GET
    statuses: dict[str, int] = field(default_factory=dict)  # path prefix -> status to answer
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location of a 302
    refuse_put: bool = False  # answer PUT with 405, as a form-only server would
    hold: threading.Event | None = None  # set: requests are answered only once it is set
    uploads: list[Received] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the tests read `requests`."""

            def _received(self) -> Received:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(self.command, self.path, dict(self.headers.items()), body)
                server.requests.append(received)
                return received

            def _refused(self) -> int | None:
                for prefix, code in server.statuses.items():
                    if self.path.startswith(prefix):
                        return code
                return None

            def _status(self, code: int) -> None:
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                self._received()
                if server.hold is not None:
                    server.hold.wait(timeout=30)
                if (code := self._refused()) is not None:
                    self._status(code)
                    return
                if self.path in server.redirects:
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                content = server.files.get(self.path)
                if content is None:
                    self._status(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _upload(self) -> None:
                received = self._received()
                if server.hold is not None:
                    server.hold.wait(timeout=30)
                if (code := self._refused()) is not None:
                    self._status(code)
                    return
                if self.command == "PUT" and server.refuse_put:
                    self._status(405)
                    return
                server.uploads.append(received)
                self._status(201)

            do_PUT = _upload  # noqa: N815 - http.server calls it so
            do_POST = _upload  # noqa: N815

        return Handler

    @contextlib.contextmanager
    def running(self, tls: ssl.SSLContext | None = None) -> Iterator[FileServer]:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        if tls is not None:
            httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
        port = httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join()
