"""A local stand-in for a vLLM OpenAI-compatible server: the endpoints the backend uses, vLLM's response shapes,
a toy word tokenizer and known log-probabilities, and a record of every request body."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOS = 1


def token_logprob(token: int, position: int) -> float:
    """The stand-in model: log p(token at position | everything before), known to the tests."""
    return -((token % 7) + 1) / 10 - position / 1000


class StandIn:
    def __init__(self, model: str = "smollm2-135m", max_model_len: int = 2048):
        self.model = model
        self.max_model_len = max_model_len
        self.vocab: dict[str, int] = {}
        self.requests: list[tuple[str, dict]] = []
        self.fail_completions: tuple[int, str] | None = None
        self.drop_logprobs = False
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, code: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [
                        {"id": stand_in.model, "object": "model", "owned_by": "vllm",
                         "max_model_len": stand_in.max_model_len}]})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append((self.path, body))
                own = stand_in.handle(self.path, body)
                if own is not None:
                    self._send(*own)
                elif body.get("model") != stand_in.model:
                    self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist."}})
                elif self.path == "/tokenize":
                    self._send(200, stand_in.tokenize(body))
                elif self.path == "/detokenize":
                    words = {v: k for k, v in stand_in.vocab.items()}
                    self._send(200, {"prompt": "".join(words[t] for t in body["tokens"])})
                elif self.path == "/v1/completions":
                    if stand_in.fail_completions:
                        code, message = stand_in.fail_completions
                        self._send(code, {"error": {"message": message, "code": code}})
                    else:
                        self._send(200, stand_in.complete(body))
                else:
                    self._send(404, {"detail": "Not Found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> "StandIn":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path: str, body: dict) -> tuple[int, object] | None:
        """(HTTP status, JSON answer) for an endpoint of another engine; None: the vLLM endpoints above."""
        return None

    def tokenize(self, body: dict) -> dict:
        """Words with their leading space are tokens (" the", "Up"); ids are given in order of first sight."""
        text, ids = body["prompt"], []
        word = ""
        for ch in text:
            if word and ch == " ":
                ids.append(self.vocab.setdefault(word, len(self.vocab) + 2))
                word = ""
            word += ch
        if word:
            ids.append(self.vocab.setdefault(word, len(self.vocab) + 2))
        if body.get("add_special_tokens", True):
            ids = [BOS] + ids
        return {"count": len(ids), "max_model_len": self.max_model_len, "tokens": ids, "token_strs": None}

    def complete(self, body: dict) -> dict:
        prompts = body["prompt"]
        choices = []
        for i, ids in enumerate(prompts):
            entries = [None] + [
                {str(tok): {"logprob": token_logprob(tok, t), "rank": 3, "decoded_token": "x"},
                 "0": {"logprob": -0.01, "rank": 1, "decoded_token": "!"}}
                for t, tok in enumerate(ids) if t > 0]
            choices.append({"index": i, "text": "!", "logprobs": None, "finish_reason": "length",
                            "stop_reason": None, "prompt_logprobs": None if self.drop_logprobs else entries})
        choices.reverse()  # the client must not rely on the order of choices, only on their index
        return {"id": "cmpl-standin", "object": "text_completion", "created": 0, "model": self.model,
                "choices": choices,
                "usage": {"prompt_tokens": sum(map(len, prompts)), "completion_tokens": len(prompts)}}
