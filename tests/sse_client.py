"""A live-stream (SSE) client on a raw socket, as a browser's EventSource is: it connects, reads the
status line and then whatever the server sends. For the stream tests and docs/security_check.py."""

import select
import socket
import time


class SseClient:
    def __init__(self, url: str, path: str, cookie: str | None = None, *, authorization: str | None = None):
        host, port = url.split("//", 1)[1].rstrip("/").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        credentials = f"Cookie: sessionid={cookie}\r\n" if cookie else ""
        credentials += f"Authorization: {authorization}\r\n" if authorization else ""
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n{credentials}\r\n"
        self.sock.sendall(request.encode())
        self.received = b""

    def read(self, until: bytes, timeout: float = 15) -> bytes:
        """What the server has sent, once it contains `until` (or after `timeout`, or at its close)."""
        deadline = time.monotonic() + timeout
        while until not in self.received and time.monotonic() < deadline:
            if select.select([self.sock], [], [], 0.2)[0]:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.received += chunk
        return self.received

    @property
    def status(self) -> int:
        """The HTTP status of the answer; 0 if the server sent no status line."""
        self.read(b"\r\n")
        try:
            return int(self.received.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return 0

    def close(self) -> None:
        self.sock.close()
