"""A built-in embedder that needs no network and no model download.

It hashes words and character trigrams into a fixed-width vector (the "hashing trick").
Two texts are similar when they share words or word fragments: this is lexical
similarity, good for finding a passage that uses the query's words (or their variants),
but it knows nothing of meaning: "car" and "automobile" are unrelated to it.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter

_WORD = re.compile(r"\w+", re.UNICODE)


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
    number = int.from_bytes(digest, "little")
    # One bit of the hash picks the sign, so collisions cancel out instead of piling up.
    return number % dim, (1.0 if number >> 63 else -1.0)


# Words repeat (a document has a few thousand distinct ones), so each word's features are
# hashed once: hashing every word and trigram again was nearly all of an ingest's embed time.
# An entry is about 1 KB, so the cache stays under 10 MB.
@functools.lru_cache(maxsize=8192)
def _features(word: str, dim: int) -> tuple[tuple[int, float], ...]:
    """The buckets a word adds to, with their signed weights: the word, then its trigrams."""
    index, sign = _bucket("w:" + word, dim)
    features = [(index, sign)]
    padded = f"#{word}#"
    # Trigrams carry half weight: they catch inflections without drowning out words.
    for start in range(len(padded) - 2):
        index, sign = _bucket("t:" + padded[start : start + 3], dim)
        features.append((index, 0.5 * sign))
    return tuple(features)


def embed_text(text: str, dim: int) -> list[float]:
    vector = [0.0] * dim
    # Every weight is a multiple of 0.5, so the sums are exact whatever the order: counting
    # repeated words once changes no vector.
    for word, count in Counter(word.lower() for word in _WORD.findall(text)).items():
        for index, weight in _features(word, dim):
            vector[index] += count * weight
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0:
        # An empty text still needs a valid vector; a constant one matches nothing well.
        vector[0] = 1.0
        return vector
    return [value / norm for value in vector]
