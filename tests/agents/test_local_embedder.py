"""The built-in embedder (`local/hashing-bow`): its vectors must never change, since stored
passages are compared with queries embedded later, perhaps by a newer version."""

from __future__ import annotations

import math

from llm.local_embedder import _features, embed_text

# Computed by the first version, which hashed every word and trigram each time it met one.
TEA_16 = [
    -0.1259881576697424, 0.0, 0.0, -0.2519763153394848, 0.1259881576697424,
    -0.1259881576697424, -0.629940788348712, 0.1259881576697424, -0.2519763153394848, 0.0,
    -0.5039526306789696, 0.0, 0.0, 0.1259881576697424, 0.3779644730092272, 0.0,
]  # fmt: skip
TEA_8 = [0.0, 0.0, -0.5773502691896258, 0.0, 0.0, 0.5773502691896258, -0.5773502691896258, 0.0]


def test_a_text_with_repeated_words_embeds_exactly_as_it_always_did():
    _features.cache_clear()

    assert embed_text("Tea with the tea team", 16) == TEA_16
    assert embed_text("Tea with the tea team", 16) == TEA_16  # from the cache this time


def test_a_word_seen_at_one_width_is_embedded_right_at_another():
    assert embed_text("Tea with the tea team", 16) == TEA_16

    assert embed_text("tea", 8) == TEA_8


def test_vectors_are_unit_length_and_an_empty_text_still_gets_one():
    assert math.isclose(math.sqrt(sum(v * v for v in embed_text("tea for two", 64))), 1.0)

    assert embed_text("", 4) == [1.0, 0.0, 0.0, 0.0]
