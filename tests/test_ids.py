"""Ids: prefixed, 26 Crockford base32 characters, sortable by the millisecond they were made."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from chronos.server.ids import new_id, new_ids

SHAPE = re.compile(r"^job_[0-9a-hjkmnp-tv-z]{26}$")


@given(st.integers(min_value=0, max_value=2**48 - 1))
def test_an_id_starts_with_its_millisecond_in_base32(millis: int) -> None:
    made = new_id("job", at_ms=millis)
    assert SHAPE.match(made)
    # 48 bits of time and 80 random bits: the first 10 characters carry the time (2 spare
    # leading bits make the 26 characters 130 bits).
    body = made.removeprefix("job_")
    decoded = 0
    for char in body:
        decoded = decoded * 32 + "0123456789abcdefghjkmnpqrstvwxyz".index(char)
    assert decoded >> 80 == millis


def test_ids_sort_by_time() -> None:
    earlier, later = new_id("job", at_ms=1_000), new_id("job", at_ms=1_001)
    assert earlier < later


def test_a_batch_of_ids_is_distinct_and_well_formed() -> None:
    batch = new_ids("job", 500)
    assert len(set(batch)) == 500
    assert all(SHAPE.match(made) for made in batch)
    assert new_ids("job", 0) == []
