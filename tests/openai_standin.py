"""A local stand-in for an OpenAI-compatible embeddings server, because tests cannot reach a real one.

It serves `POST /v1/embeddings` on 127.0.0.1 (a free port) the way the OpenAI API does: bearer token
checked, unknown models and bad input refused with OpenAI-shaped errors, vectors computed for real by
the hashing model (`dimensions` honoured). It can be told to fail the next requests.

Fixtures:
- `openai_standin`: the running server, an `OpenAIStandin`.
- `openai_settings`: settings pointed at it (OPENAI_*), with fast retries and a 0.5 s timeout; the
  cached backend of `openai:text-embedding-3-small` is forgotten before and after.
- `openai_backend`: `get_backend("openai:text-embedding-3-small")` built from those settings.
"""

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from embeddings.backends import clear_cache, get_backend
from embeddings.backends.hashing import HashingBackend

MODEL = "text-embedding-3-small"
MODELS = {"text-embedding-3-small", "text-embedding-3-large"}
# Without `dimensions`, vectors have the hashing model's size (the real models have 1536 and 3072).
NATIVE_DIMENSIONS = 256
MAX_INPUTS = 2048


class OpenAIStandin:
    """`base_url` and `api_key` to connect; `requests` holds the JSON body of every request received
    (None when it was not JSON), in order, whether it succeeded or not;
    `tamper`, when set, rewrites each successful answer (dict -> dict) to play a broken server."""

    def __init__(self, *, api_key: str = "sk-standin-0123456789abcdef", hang_seconds: float = 5.0):
        self.api_key = api_key
        self.hang_seconds = hang_seconds
        self.requests: list[dict | None] = []
        self.tamper = None
        self._failures: list[tuple[int | str, float | None]] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="openai-standin", daemon=True
        )

    def fail_next(self, count: int, status: int | str, *, retry_after: float | None = None) -> None:
        """The next `count` authorised requests answer `status` (429, 500, 401, ...) with an
        OpenAI-style error and the given Retry-After, or with "timeout" never answer."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers playing a timeout
        self._server.shutdown()
        self._server.server_close()

    def _next_failure(self) -> tuple[int | str, float | None] | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx's pooled connections expect

    def do_POST(self):
        standin: OpenAIStandin = self.server.standin
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        except ValueError:
            request = None
        standin.requests.append(request)
        if self.path != "/v1/embeddings":
            return self._error(404, f"Unknown request URL: POST {self.path}.", "unknown_url")
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if token != standin.api_key:
            # The real API masks the key it echoes; this one does not, so tests prove we mask it.
            return self._error(401, f"Incorrect API key provided: {token}.", "invalid_api_key")
        failure = standin._next_failure()
        if failure is not None:
            return self._fail(*failure)
        problem = _invalid(request)
        if problem:
            return self._error(*problem)
        answer = _embeddings(request)
        self._send(200, standin.tamper(answer) if standin.tamper else answer)

    def _fail(self, status: int | str, retry_after: float | None) -> None:
        if status == "timeout":
            self.server.standin._stopping.wait(self.server.standin.hang_seconds)
            self.close_connection = True
            return
        headers = {}
        if retry_after is not None:
            headers = {"retry-after-ms": str(int(retry_after * 1000)), "retry-after": str(math.ceil(retry_after))}
        self._error(status, f"Injected failure {status}.", "standin_failure", headers)

    def _error(self, status: int, message: str, code: str | None, headers: dict | None = None) -> None:
        kind = "invalid_request_error" if status < 500 else "server_error"
        error = {"message": message, "type": kind, "param": None, "code": code}
        self._send(status, {"error": error}, headers)

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        pass  # the suite's output is not the place for an access log


def _invalid(request) -> tuple[int, str, str | None] | None:
    """Why the API would refuse this request, as (status, message, code), or None."""
    if not isinstance(request, dict):
        return 400, "We could not parse the JSON body of your request.", None
    if request.get("model") not in MODELS:
        return (
            404,
            f"The model `{request.get('model')}` does not exist or you do not have access to it.",
            "model_not_found",
        )
    inputs = request.get("input")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not inputs or not all(isinstance(text, str) and text for text in inputs):
        return 400, "'$.input' is invalid: expected a non-empty string or list of non-empty strings.", None
    if len(inputs) > MAX_INPUTS:
        return 400, f"'$.input' is invalid: at most {MAX_INPUTS} inputs per request.", None
    if request.get("encoding_format", "float") != "float":
        return 400, "This stand-in only speaks encoding_format 'float'.", None
    dimensions = request.get("dimensions", NATIVE_DIMENSIONS)
    if not isinstance(dimensions, int) or not 1 <= dimensions <= 3072:
        return 400, f"Invalid 'dimensions': {dimensions!r}.", None
    return None


def _embeddings(request: dict) -> dict:
    inputs = request["input"]
    inputs = [inputs] if isinstance(inputs, str) else inputs
    vectors = HashingBackend(dimensions=request.get("dimensions", NATIVE_DIMENSIONS)).embed(inputs)
    tokens = sum(len(text.split()) for text in inputs)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": vector.tolist()} for i, vector in enumerate(vectors)],
        "model": request["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


@pytest.fixture
def openai_standin():
    standin = OpenAIStandin()
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def openai_settings(settings, openai_standin):
    settings.OPENAI_BASE_URL = openai_standin.base_url
    settings.OPENAI_API_KEY = openai_standin.api_key
    settings.OPENAI_EMBEDDING_MODEL = MODEL
    settings.OPENAI_EMBEDDING_DIMENSIONS = NATIVE_DIMENSIONS
    settings.OPENAI_TIMEOUT_SECONDS = 0.5
    settings.NYXSYNC_EMBEDDING_RETRY_ATTEMPTS = 4
    settings.NYXSYNC_EMBEDDING_RETRY_WAIT_SECONDS = 0.01
    settings.NYXSYNC_EMBEDDING_RETRY_MAX_WAIT_SECONDS = 0.2
    # A backend cached by an earlier test would still point at that test's server.
    clear_cache("openai:" + MODEL)
    yield settings
    clear_cache("openai:" + MODEL)


@pytest.fixture
def openai_backend(openai_settings):
    return get_backend("openai:" + MODEL)
