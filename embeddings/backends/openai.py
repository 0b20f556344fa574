"""Embeddings from an OpenAI-compatible `/embeddings` endpoint (OpenAI itself, or a vLLM, Ollama or
LiteLLM server speaking the same API), over httpx.

The API key goes into one header of one client and nowhere else: every message that leaves this
module (errors, log lines, repr) is built from the server's answer with the key masked out."""

import email.utils
from datetime import UTC, datetime
from functools import partial

import httpx
import numpy as np
from django.conf import settings

from .base import EmbeddingBackend, EmbeddingError, RetryPolicy

PREFIX = "openai:"
# What retrying can fix: timeouts, rate limits, conflicts and server faults.
_TRANSIENT_STATUSES = {408, 409, 429}
_HINTS = {
    401: " (check OPENAI_API_KEY)",
    403: " (check OPENAI_API_KEY and its permissions)",
    404: " (check the model name and OPENAI_BASE_URL)",
}


class OpenAIBackend(EmbeddingBackend):
    backend = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str,
        dimensions: int,
        timeout_seconds: float,
        max_batch: int = 128,
        retry: RetryPolicy | None = None,
    ):
        """`dimensions` > 0 is requested from the server and checked; 0 means the model's own size,
        not sent, learned from the first answer."""
        if not (api_key.isascii() and api_key.isprintable()):
            # httpx would refuse it later, quoting the whole header in its message.
            raise EmbeddingError("OPENAI_API_KEY holds characters an HTTP header cannot carry", permanent=True)
        self.model = model
        self.name = PREFIX + model
        self.max_batch = max_batch
        self._requested_dimensions = dimensions or None
        self._dimensions = self._requested_dimensions
        self._api_key = api_key
        self._host = httpx.URL(base_url).host
        self._timeout_seconds = timeout_seconds
        self._retry = retry or RetryPolicy()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # One client per process and model: its connection pool is reused by every batch.
        self._client = httpx.Client(base_url=base_url, headers=headers, timeout=timeout_seconds)

    @classmethod
    def from_settings(cls, name: str) -> "OpenAIBackend":
        model = name.removeprefix(PREFIX)
        if not model:
            raise EmbeddingError(f"embedding model {name!r} names no model: use 'openai:<model>'", permanent=True)
        return cls(
            model,
            base_url=settings.OPENAI_BASE_URL,
            api_key=settings.OPENAI_API_KEY,
            dimensions=settings.OPENAI_EMBEDDING_DIMENSIONS,
            timeout_seconds=settings.OPENAI_TIMEOUT_SECONDS,
            max_batch=getattr(settings, "OPENAI_EMBEDDING_BATCH_SIZE", 128),
            retry=RetryPolicy.from_settings(),
        )

    @property
    def dimensions(self) -> int:
        if self._dimensions is None:
            self._embed_batch(["dimension probe"])
        return self._dimensions

    def describe(self) -> dict:
        # The size stays None until known: asking the server here would cost a request.
        return {"name": self.name, "backend": self.backend, "dimensions": self._dimensions, "max_batch": self.max_batch}

    def __repr__(self) -> str:
        return f"<OpenAIBackend {self.name} at {self._host}>"

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        vectors = self._retry.call(partial(self._request, texts), model_name=self.name)
        if self._dimensions is None:
            self._dimensions = vectors.shape[1]
        return vectors

    def _request(self, texts: list[str]) -> np.ndarray:
        body = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self._requested_dimensions:
            body["dimensions"] = self._requested_dimensions
        # `from None`: httpx's own message may quote the request's headers (an illegal header value).
        try:
            response = self._client.post("embeddings", json=body)
        except httpx.TimeoutException:
            raise EmbeddingError(
                f"{self.name}: no answer from {self._host} within {self._timeout_seconds:g} s", permanent=False
            ) from None
        except httpx.TransportError as exc:
            raise EmbeddingError(
                f"{self.name}: cannot reach {self._host}: {type(exc).__name__}: {self._redact(str(exc))}",
                permanent=False,
            ) from None
        if not response.is_success:
            raise self._http_error(response)
        return self._vectors(response, len(texts))

    def _http_error(self, response: httpx.Response) -> EmbeddingError:
        status = response.status_code
        error = _error_body(response)
        message = f"{self.name}: {self._host} answered {status}{_HINTS.get(status, '')}: {self._redact(_message(response, error))}"
        # A 429 for an exhausted quota will not clear by waiting.
        transient = (status in _TRANSIENT_STATUSES or status >= 500) and error.get("code") != "insufficient_quota"
        if transient:
            return EmbeddingError(message, permanent=False, retry_after=_retry_after(response))
        return EmbeddingError(message, permanent=True)

    def _vectors(self, response: httpx.Response, count: int) -> np.ndarray:
        try:
            rows = sorted(response.json()["data"], key=lambda row: row["index"])
            indexes = [row["index"] for row in rows]
            vectors = np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(
                f"{self.name}: {self._host} sent a malformed embeddings response ({type(exc).__name__}: {exc})",
                permanent=True,
            ) from exc
        if indexes != list(range(count)):
            raise EmbeddingError(
                f"{self.name}: {self._host} sent {len(indexes)} vectors (indexes {indexes[:8]}) for {count} inputs",
                permanent=True,
            )
        if vectors.ndim != 2:
            raise EmbeddingError(
                f"{self.name}: {self._host} sent embeddings that are not lists of numbers", permanent=True
            )
        expected = self._dimensions or vectors.shape[1]
        if vectors.shape[1] != expected:
            raise EmbeddingError(
                f"{self.name}: {self._host} sent {vectors.shape[1]}-dimensional vectors, expected {expected} "
                "(OPENAI_EMBEDDING_DIMENSIONS)",
                permanent=True,
            )
        return vectors

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text


def _error_body(response: httpx.Response) -> dict:
    """The `error` object of an OpenAI-style error answer, or {}."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def _message(response: httpx.Response, error: dict) -> str:
    if isinstance(error.get("message"), str):
        return error["message"]
    return response.text.strip()[:300] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked us to wait: OpenAI's `retry-after-ms`, or `Retry-After` as seconds
    or an HTTP date."""
    if milliseconds := response.headers.get("retry-after-ms"):
        try:
            return max(float(milliseconds) / 1000, 0.0)
        except ValueError:
            pass
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)
