"""Token counts on run cards read at a glance."""

from __future__ import annotations

import pytest

from agents.templatetags.reverie_format import compact


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "0"), (0, "0"), (999, "999"), (1000, "1k"), (1234, "1.2k"), (2_500_000, "2.5M")],
)
def test_compact_numbers(value, shown):
    assert compact(value) == shown
