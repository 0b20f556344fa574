"""A small deterministic model: feature hashing of code tokens and character trigrams.

No weights and no torch, so it is fast and the same on every machine. Texts that share identifiers
and spelling share features, so similar code lands close together; it knows nothing of meaning.
It is the second model of the test suite (its dimension differs from MiniLM's on purpose) and the
engine of the OpenAI stand-in."""

import re
import threading
import zlib

import numpy as np

from .base import EmbeddingBackend

# Identifiers and numbers, then the words inside an identifier (snake_case, camelCase, HTTPServer).
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Whole tokens say more than spelling; trigrams make near-identical spellings overlap.
_TOKEN_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.5


# Tokens whose features are kept (a few tens of MB); past that the table starts again.
_VOCABULARY_MAX = 300_000
_EMPTY = ""  # the pseudo-token of a text without tokens (_TOKEN never matches an empty string)


class HashingBackend(EmbeddingBackend):
    backend = "hashing"

    def __init__(self, *, dimensions: int = 256, max_batch: int = 1024):
        self.name = f"hashing-{dimensions}"
        self.dimensions = dimensions
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._reset()

    @classmethod
    def from_settings(cls, name: str) -> "HashingBackend":
        return cls(dimensions=int(name.removeprefix("hashing-")))

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        # Each token's features (slots and signed weights) are worked out once and kept in a
        # table; a batch is then a few array operations, not a Python step per feature. The sums
        # are of halves and ones, exact in any order: the same vectors as feature by feature.
        ids, counts = [], []
        with self._lock:  # the web serves searches from several threads
            if len(self._vocabulary) > _VOCABULARY_MAX:
                self._reset()
            known = self._vocabulary.get
            for text in texts:
                tokens = _TOKEN.findall(text) or [_EMPTY]
                found = [known(token, -1) for token in tokens]
                if -1 in found:  # tokens seen for the first time
                    found = [given if given >= 0 else self._token_id(token) for given, token in zip(found, tokens, strict=True)]
                ids += found
                counts.append(len(tokens))
            offsets, slots, weights = self._arrays()
        ids = np.asarray(ids, dtype=np.int64)
        starts = offsets[ids]
        lengths = offsets[ids + 1] - starts
        owner = np.repeat(np.arange(len(ids)), lengths)  # the token occurrence of each feature
        features = starts[owner] + np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        rows = np.repeat(np.arange(len(texts)), counts)[owner]
        cells = rows * self.dimensions + slots[features]
        summed = np.bincount(cells, weights=weights[features], minlength=len(texts) * self.dimensions)
        return summed.reshape(len(texts), self.dimensions).astype(np.float32)

    def _reset(self) -> None:
        self._vocabulary: dict[str, int] = {}
        self._offsets, self._slots, self._weights = [0], [], []
        # The lists' first items as arrays, in buffers with room to spare (see _arrays).
        self._buffers = (np.zeros(1024, dtype=np.int64), np.zeros(1024, dtype=np.int64), np.zeros(1024, dtype=np.float64))
        self._filled = (0, 0, 0)  # how many of each list the buffers hold
        self._cached_arrays = None

    def _token_id(self, token: str) -> int:
        found = self._vocabulary.get(token)
        if found is not None:
            return found
        # An empty text still gets a direction: cosine distance to a zero vector is undefined.
        for feature, weight in _features(token) if token != _EMPTY else [("<empty>", 1.0)]:
            digest = zlib.crc32(feature.encode())
            # Low bits pick the slot, the top bit the sign, so collisions cancel out on average.
            self._slots.append(digest % self.dimensions)
            self._weights.append(weight if digest >> 31 else -weight)
        self._offsets.append(len(self._slots))
        self._cached_arrays = None
        self._vocabulary[token] = len(self._vocabulary)
        return self._vocabulary[token]

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Only the tokens added since the last batch are converted, into buffers that double when
        # full: the table grows to millions of features, and copying it all for every batch (as a
        # concatenation does) cost 13 s of a 60,000-file sync, more than its batches.
        if self._cached_arrays is None:
            self._buffers = tuple(
                _appended(buffer, items, filled)
                for buffer, items, filled in zip(self._buffers, (self._offsets, self._slots, self._weights), self._filled, strict=True)
            )
            self._filled = (len(self._offsets), len(self._slots), len(self._weights))
            self._cached_arrays = tuple(buffer[:filled] for buffer, filled in zip(self._buffers, self._filled, strict=True))
        return self._cached_arrays


def _appended(buffer: np.ndarray, items: list, filled: int) -> np.ndarray:
    """`buffer` (holding items[:filled]) with the rest of `items` written after them: the same
    buffer while it has room, else one twice as large as needed."""
    if len(items) > len(buffer):
        grown = np.empty(2 * len(items), dtype=buffer.dtype)
        grown[:filled] = buffer[:filled]
        buffer = grown
    buffer[filled : len(items)] = items[filled:]
    return buffer


def _features(token: str) -> list[tuple[str, float]]:
    """One token's features: itself, the words inside it, its character trigrams."""
    lowered = token.lower()
    features = [("t:" + lowered, _TOKEN_WEIGHT)]
    words = _SUBWORD.findall(token)
    if len(words) > 1:
        features.extend(("t:" + word.lower(), _TOKEN_WEIGHT) for word in words)
    padded = f" {lowered} "
    features.extend(("c:" + padded[i : i + 3], _TRIGRAM_WEIGHT) for i in range(len(padded) - 2))
    return features
