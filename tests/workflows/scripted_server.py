"""A tiny OpenAI-compatible chat server that answers from a Python function.

CLI tests run ``trace-engine`` in a subprocess with
``--llm openai-compatible:URL#scripted``: the real spec path of the LLM layer,
with scripted answers instead of a model.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedServer:
    """``reply(messages) -> str`` answers every chat completion request; ``usage``, when
    given, is reported for each call instead of counts estimated from the text;
    ``failures`` are HTTP error statuses answered, in order, to the first chat requests
    (e.g. ``[500]`` fails the first one once); ``listing`` is the status of the models
    listing (``401``: a server that rejects the key)."""

    def __init__(
        self,
        reply: Callable[[list[dict]], str],
        usage: dict | None = None,
        failures: Sequence[int] = (),
        listing: int = 200,
    ):
        self.reply = reply
        self.usage = usage
        self.failures = list(failures)
        self.listing = listing
        self.requests: list[list[dict]] = []
        self.authorizations: list[str | None] = []
        """The Authorization header of each request, in order."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            def fail(self, status: int | None) -> bool:
                if status is None or status == 200:
                    return False
                data = json.dumps({"error": {"message": f"scripted HTTP {status}"}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return True

            def do_GET(self):
                if self.fail(server.listing):
                    return
                data = json.dumps(
                    {"object": "list", "data": [{"id": "scripted", "object": "model"}]}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.fail(server.failures.pop(0) if server.failures else None):
                    return
                messages = body["messages"]
                server.requests.append(messages)
                server.authorizations.append(self.headers.get("Authorization"))
                text = server.reply(messages)
                payload = {
                    "id": "scripted",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "scripted"),
                    "choices": [
                        {
                            "index": i,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                        for i in range(body.get("n", 1))
                    ],
                    "usage": server.usage
                    or {
                        "prompt_tokens": sum(len(m["content"]) for m in messages) // 4,
                        "completion_tokens": len(text) // 4,
                        "total_tokens": 0,
                    },
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def spec(self) -> str:
        return f"openai-compatible:http://127.0.0.1:{self.httpd.server_port}/v1#scripted"

    def __enter__(self) -> ScriptedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
