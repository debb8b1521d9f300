"""A loopback OpenAI-compatible server whose every answer is scripted by the test."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietServer(ThreadingHTTPServer):
    """Does not print the broken pipes of clients that timed out on purpose."""

    def handle_error(self, request, client_address):
        pass


class FakeServer:
    """Speaks /v1/chat/completions; each request consumes the next scripted behaviour.

    ``("sleep", s)`` answers "late" after ``s`` seconds; ``("echo", s)`` answers
    ``re:`` + the last message after ``s`` seconds. ``max_in_flight`` is the most
    requests it was answering at once.
    ``models`` scripts ``GET /v1/models``: ``None`` leaves GET unimplemented (501,
    as a server without a models listing), ``("ok", [ids])`` lists the ids, and
    ``("status", code, headers, payload)`` answers with that error.
    """

    def __init__(self):
        self.script = []
        self.requests = []
        self.default = ("ok", "default answer")
        self.models = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                with server._count_lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer()
                finally:
                    with server._count_lock:
                        server.in_flight -= 1

            def _answer(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(
                    {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                )
                kind, *args = server.script.pop(0) if server.script else server.default
                if kind == "sleep":
                    time.sleep(args[0])
                    kind, args = "ok", [args[1] if len(args) > 1 else "late"]
                if kind == "echo":
                    time.sleep(args[0])
                    kind, args = "ok", [f"re:{body['messages'][-1]['content']}"]
                if kind == "ok":
                    choices = args[1] if len(args) > 1 else max(1, body.get("n", 1))
                    self._send(200, chat_body(args[0], choices))
                elif kind == "status":
                    status, headers, payload = args
                    self._send(status, payload, headers)
                elif kind == "raw":
                    self._send_bytes(200, args[0])

            def do_GET(self):
                server.requests.append(
                    {"path": self.path, "body": None, "auth": self.headers.get("Authorization")}
                )
                if server.models is None:
                    self.send_error(501)
                    return
                kind, *args = server.models
                if kind == "ok":
                    data = [
                        {"id": m, "object": "model", "created": 0, "owned_by": "x"} for m in args[0]
                    ]
                    self._send(200, {"object": "list", "data": data})
                else:
                    status, headers, payload = args
                    self._send(status, payload, headers)

            def _send(self, status, payload, headers=None):
                self._send_bytes(status, json.dumps(payload).encode(), headers)

            def _send_bytes(self, status, data, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def spec(self, model="tiny"):
        return f"openai-compatible:{self.url}#{model}"


def chat_body(text, choices=1):
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "tiny",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            for i in range(choices)
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    }


def error_body(message):
    return {"error": {"message": message, "type": "invalid_request_error"}}
