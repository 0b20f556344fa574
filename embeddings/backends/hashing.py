"""A small deterministic model: feature hashing of code tokens and character trigrams.

No weights and no torch, so it is fast and the same on every machine. Texts that share identifiers
and spelling share features, so similar code lands close together; it knows nothing of meaning.
It is the second model of the test suite (its dimension differs from MiniLM's on purpose) and the
engine of the OpenAI stand-in."""

import re
import zlib

import numpy as np

from .base import EmbeddingBackend

# Identifiers and numbers, then the words inside an identifier (snake_case, camelCase, HTTPServer).
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")
_SUBWORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Whole tokens say more than spelling; trigrams make near-identical spellings overlap.
_TOKEN_WEIGHT = 1.0
_TRIGRAM_WEIGHT = 0.5


class HashingBackend(EmbeddingBackend):
    backend = "hashing"

    def __init__(self, *, dimensions: int = 256, max_batch: int = 1024):
        self.name = f"hashing-{dimensions}"
        self.dimensions = dimensions
        self.max_batch = max_batch

    @classmethod
    def from_settings(cls, name: str) -> "HashingBackend":
        return cls(dimensions=int(name.removeprefix("hashing-")))

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vector(text) for text in texts])

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        # An empty text still gets a direction: cosine distance to a zero vector is undefined.
        for feature, weight in _features(text) or [("<empty>", 1.0)]:
            digest = zlib.crc32(feature.encode())
            # Low bits pick the slot, the top bit the sign, so collisions cancel out on average.
            vector[digest % self.dimensions] += weight if digest >> 31 else -weight
        return vector


def _features(text: str) -> list[tuple[str, float]]:
    features = []
    for token in _TOKEN.findall(text):
        lowered = token.lower()
        features.append(("t:" + lowered, _TOKEN_WEIGHT))
        words = _SUBWORD.findall(token)
        if len(words) > 1:
            features.extend(("t:" + word.lower(), _TOKEN_WEIGHT) for word in words)
        padded = f" {lowered} "
        features.extend(("c:" + padded[i : i + 3], _TRIGRAM_WEIGHT) for i in range(len(padded) - 2))
    return features
