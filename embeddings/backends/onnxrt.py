"""all-MiniLM-L6-v2 quantized to int8, on ONNX Runtime: the same model as embeddings.backends.local,
about twice as fast on a CPU, with vectors close to (not equal to) torch's, so it is a model of its
own for the index ("all-MiniLM-L6-v2-int8": its own vectors, switched to with `reembed`).

The model file is built from the weights on disk by embeddings.backends.onnx_build, at install time;
if it is missing, the first process that needs it builds it (once, under a lock). Running it needs
onnxruntime, the `tokenizers` library and numpy only: no torch, so a process that embeds with this
backend starts in a fraction of a second. ONNX Runtime picks its kernels for the CPU it runs on
(AVX2, AVX-512, VNNI...), so the same file runs on any x86-64 machine.

Each text runs on its own (see `embed`), so its vector depends on the text alone; mean pooling and
normalisation are inside the graph, as sentence-transformers does them."""

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from django.conf import settings

from . import onnx_build
from .base import EmbeddingBackend, EmbeddingError

logger = logging.getLogger(__name__)


class MiniLMInt8Backend(EmbeddingBackend):
    name = "all-MiniLM-L6-v2-int8"
    backend = "onnxruntime"
    dimensions = onnx_build.DIMENSIONS

    def __init__(self, *, max_batch: int = 32, threads: int = 0, cache_dir: Path | None = None):
        self.max_batch = max_batch
        self.threads = threads or os.cpu_count() or 1
        self.cache_dir = cache_dir
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()  # loading once
        # The Rust tokenizer refuses two threads at once ("Already borrowed").
        self._tokenizing = threading.Lock()

    @classmethod
    def from_settings(cls, name: str) -> "MiniLMInt8Backend":
        return cls(max_batch=settings.NYXSYNC_EMBEDDING_BATCH_SIZE, threads=settings.NYXSYNC_TORCH_THREADS)

    def warm(self) -> None:
        """Load (building first if need be) now, so the first run does not wait."""
        self._loaded()

    def embed(self, texts: list[str]) -> np.ndarray:
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not one string")
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        session, tokenizer = self._loaded()
        with self._tokenizing:
            encodings = tokenizer.encode_batch(list(texts))
        # One text per run: activations are quantized with the range of the whole input, so in a
        # batch (even one of equal lengths, with no padding) a text's vector would depend on its
        # neighbours, by 0.5% of cosine, as much as quantization itself costs. The cores are used
        # by running `threads` texts at once, one thread each (a run releases the GIL): a single
        # short input splits badly across threads, whole texts do not (10-15% faster here). The
        # threads live for one call: nothing to go stale in a process forked after a call.
        def run(encoding):
            return session.run(None, _inputs(encoding))[0]

        if self.threads == 1 or len(encodings) == 1:
            rows = [run(encoding) for encoding in encodings]
        else:
            with ThreadPoolExecutor(min(self.threads, len(encodings)), thread_name_prefix="onnx-embed") as pool:
                rows = list(pool.map(run, encodings))
        return self._checked(np.concatenate(rows), len(texts))

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def _loaded(self):
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._tokenizer, self._session = load_session(1, self.cache_dir, model=self.name)
        return self._session, self._tokenizer


class MiniLMInt8R2Backend(MiniLMInt8Backend):
    """Recipe 2 (onnx_build): 7-bit signed weights, which VNNI CPUs multiply with their int8
    instructions, about twice as fast as recipe 1 there; vectors of its own. The default model of
    new branches (settings.NYXSYNC_EMBEDDING_MODEL)."""

    name = "all-MiniLM-L6-v2-int8-r2"


def load_session(threads: int, cache_dir: Path | None = None, *, model: str = onnx_build.FIRST):
    """(tokenizer, inference session) of the int8 `model`, built first if missing."""
    started = time.perf_counter()
    try:
        import onnxruntime
        from tokenizers import Tokenizer

        folder = onnx_build.ensure_built(cache_dir, model=model)
        tokenizer = Tokenizer.from_file(str(folder / onnx_build.TOKENIZER_FILE))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # No spin-waiting between runs: a worker shares its cores with PostgreSQL, git and the web
        # process, and spinning threads on a busy machine made 2 threads slower than 1.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: no notes about the optimizer's choices
        session = onnxruntime.InferenceSession(
            str(folder / onnx_build.MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
    except (ImportError, OSError) as exc:
        raise EmbeddingError(f"cannot load {model}: {exc}", permanent=True) from exc
    except Exception as exc:  # ONNX Runtime's own errors (a corrupt file) have no common base class
        raise EmbeddingError(f"cannot load {model}: {type(exc).__name__}: {exc}", permanent=True) from exc
    # Truncation as sentence-transformers does it ([CLS] ... [SEP] within the window), no padding.
    tokenizer.enable_truncation(onnx_build.MAX_TOKENS)
    tokenizer.no_padding()
    logger.info(
        "embeddings.backend.loaded",
        extra={
            "embedding_model": model,
            "threads": threads,
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return tokenizer, session


def _inputs(encoding) -> dict[str, np.ndarray]:
    ids = np.asarray([encoding.ids], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}
