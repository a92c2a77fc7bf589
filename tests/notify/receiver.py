"""A webhook receiver on 127.0.0.1 for tests: records every POST, can fail or stall."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail_next = 0  # answer this many requests with `fail_code`
        self.fail_code = 500
        self.stall = 0.0  # seconds to wait before answering
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.requests.append((dict(self.headers.items()), raw))
                if receiver.stall:
                    time.sleep(receiver.stall)
                code = 200
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    code = receiver.fail_code
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook/t0ken-in-path"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for _, raw in self.requests]

    def wait(self, count: int, limit: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return self.bodies()
            time.sleep(0.02)
        raise AssertionError(f"{len(self.requests)} webhook requests, expected {count}")
