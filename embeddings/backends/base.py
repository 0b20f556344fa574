"""The interface every embedding backend implements, its error, and the shared retry policy."""

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import tenacity
from django.conf import settings

logger = logging.getLogger(__name__)

T = TypeVar("T")


class EmbeddingError(Exception):
    """An embedding call failed. Permanent errors (bad key, unknown model, rejected input) fail the
    run at once; transient ones (timeouts, 429, 5xx) are worth retrying. `retry_after` is the wait
    the server asked for, in seconds, when it said so."""

    def __init__(self, message: str, *, permanent: bool, retry_after: float | None = None):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class EmbeddingBackend(ABC):
    """Turns texts into L2-normalised float32 vectors of `dimensions` floats.

    `name` is the model name stored with the vectors (EmbeddingModel.name); `backend` is its kind.
    Subclasses implement `_embed_batch` for at most `max_batch` texts; `embed` does the batching and
    checks every result, so a misbehaving backend can never write a malformed vector."""

    name: str
    backend: str
    dimensions: int
    max_batch: int

    def embed(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not one string")
        parts = [self._checked(self._embed_batch(batch), len(batch)) for batch in batched(texts, self.max_batch)]
        if not parts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.concatenate(parts)

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for at most `max_batch` texts, one row per text, in order."""

    def _checked(self, vectors: np.ndarray, count: int) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.shape != (count, self.dimensions):
            raise EmbeddingError(
                f"{self.name} returned vectors of shape {vectors.shape}, expected ({count}, {self.dimensions})",
                permanent=True,
            )
        if not np.isfinite(vectors).all():
            raise EmbeddingError(f"{self.name} returned a vector with NaN or infinite values", permanent=True)
        return l2_normalise(vectors)

    def describe(self) -> dict:
        """What the model is, without loading it."""
        return {"name": self.name, "backend": self.backend, "dimensions": self.dimensions, "max_batch": self.max_batch}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def batched(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    # An all-zero row stays zero rather than becoming NaN.
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32, copy=False)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries of transient EmbeddingErrors: exponential backoff with jitter, or the
    server's Retry-After when it sent one, never longer than `max_wait_seconds`."""

    attempts: int = 5
    wait_seconds: float = 1.0
    max_wait_seconds: float = 30.0

    @classmethod
    def from_settings(cls) -> "RetryPolicy":
        return cls(
            attempts=getattr(settings, "NYXSYNC_EMBEDDING_RETRY_ATTEMPTS", cls.attempts),
            wait_seconds=getattr(settings, "NYXSYNC_EMBEDDING_RETRY_WAIT_SECONDS", cls.wait_seconds),
            max_wait_seconds=getattr(settings, "NYXSYNC_EMBEDDING_RETRY_MAX_WAIT_SECONDS", cls.max_wait_seconds),
        )

    def call(self, fn: Callable[[], T], *, model_name: str) -> T:
        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.wait_seconds, max=self.max_wait_seconds, jitter=self.wait_seconds
        )

        def wait(state: tenacity.RetryCallState) -> float:
            retry_after = state.outcome.exception().retry_after
            return backoff(state) if retry_after is None else min(retry_after, self.max_wait_seconds)

        def log_retry(state: tenacity.RetryCallState) -> None:
            logger.warning(
                "embeddings.backend.retry",
                extra={
                    "embedding_model": model_name,
                    "attempt": state.attempt_number,
                    "wait_seconds": round(state.next_action.sleep, 3),
                    "error": state.outcome.exception().message,
                },
            )

        def give_up(state: tenacity.RetryCallState) -> T:
            error = state.outcome.exception()
            raise EmbeddingError(
                f"{error.message} (gave up after {state.attempt_number} attempts)", permanent=False
            ) from error

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda e: isinstance(e, EmbeddingError) and not e.permanent),
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=wait,
            before_sleep=log_retry,
            retry_error_callback=give_up,
        )
        return retrying(fn)
