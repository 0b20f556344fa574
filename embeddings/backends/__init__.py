"""Embedding backends: one module per kind, registered here by dotted path.

    backend = get_backend()            # the model of settings.NYXSYNC_EMBEDDING_MODEL
    vectors = backend.embed(texts)     # float32 (len(texts), backend.dimensions), L2-normalised

Backends are built once per process and kept, so a worker's model stays warm between runs. Building
one is cheap: heavy models load on their first embed() (or `warm()`), so importing this package or
listing models never imports torch.
"""

import os
import threading

from django.conf import settings
from django.utils.module_loading import import_string

from .base import EmbeddingBackend, EmbeddingError

__all__ = ["EmbeddingBackend", "EmbeddingError", "available_models", "clear_cache", "get_backend"]

# Model name -> the class that serves it (each has `from_settings(name)`).
MODELS = {
    "all-MiniLM-L6-v2": "embeddings.backends.local.MiniLMBackend",
    "all-MiniLM-L6-v2-int8": "embeddings.backends.onnxrt.MiniLMInt8Backend",
    "all-MiniLM-L6-v2-int8-r2": "embeddings.backends.onnxrt.MiniLMInt8R2Backend",
    "hashing-256": "embeddings.backends.hashing.HashingBackend",
}
# Any "openai:<model>" is served by an OpenAI-compatible endpoint (settings OPENAI_*).
OPENAI_PREFIX = "openai:"
OPENAI_BACKEND = "embeddings.backends.openai.OpenAIBackend"

_backends: dict[str, EmbeddingBackend] = {}
_lock = threading.Lock()


def get_backend(model_name: str | None = None) -> EmbeddingBackend:
    """The backend of `model_name` (default: settings.NYXSYNC_EMBEDDING_MODEL), the same object
    for every caller in this process. Unknown names raise a permanent EmbeddingError."""
    name = model_name or settings.NYXSYNC_EMBEDDING_MODEL
    backend = _backends.get(name)
    if backend is None:
        with _lock:
            backend = _backends.get(name)
            if backend is None:
                backend = _backends[name] = _backend_class(name).from_settings(name)
    return backend


def available_models() -> list[dict]:
    """Known models: name, backend, dimensions (None for a remote model whose size is learned from
    its first answer), max_batch and whether it is the configured default. Nothing is loaded."""
    default = settings.NYXSYNC_EMBEDDING_MODEL
    names = list(dict.fromkeys([*MODELS, OPENAI_PREFIX + settings.OPENAI_EMBEDDING_MODEL, default]))
    return [{**get_backend(name).describe(), "default": name == default} for name in names]


def clear_cache(model_name: str | None = None) -> None:
    """Forget one cached backend (or all), so the next get_backend builds it from current settings."""
    with _lock:
        if model_name is None:
            _backends.clear()
        else:
            _backends.pop(model_name, None)


def _backend_class(name: str) -> type:
    if name in MODELS:
        return import_string(MODELS[name])
    if name.startswith(OPENAI_PREFIX):
        return import_string(OPENAI_BACKEND)
    known = ", ".join([*MODELS, OPENAI_PREFIX + "<model>"])
    raise EmbeddingError(f"unknown embedding model {name!r}; known: {known}", permanent=True)


def _forget_all_in_child() -> None:
    # A forked child must not share the parent's model threads or HTTP sockets, nor inherit a lock
    # some parent thread held at the fork: it starts empty and loads its own.
    global _lock
    _lock = threading.Lock()
    _backends.clear()


os.register_at_fork(after_in_child=_forget_all_in_child)
