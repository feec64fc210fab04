"""The canonical JSON encoding (RFC 8785 style)."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.transparency.canonical import (
    CanonicalError,
    canonical_json,
    format_number,
    reference_canonical_json,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_sorted_keys_no_whitespace_utf8() -> None:
    assert canonical_json({"z": 1, "a": [True, None], "é": "ü\n"}) == (
        '{"a":[true,null],"z":1,"é":"ü\\n"}'.encode()
    )


def test_keys_sort_by_utf16_code_units() -> None:
    # U+1F600 (surrogates D83D..) sorts before U+FB01 in UTF-16, after it in code points.
    assert canonical_json({"\ufb01": 1, "\U0001f600": 2}).decode() == '{"\U0001f600":2,"\ufb01":1}'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (1.5e300, "1.5e+300"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e21, "1e+21"),
        (5e-324, "5e-324"),
        (-1.25e-8, "-1.25e-8"),
    ],
)
def test_numbers_print_as_ecmascript(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1: "x"}, {"a": {1, 2}}])
def test_values_without_json_form_are_refused(bad: object) -> None:
    with pytest.raises(CanonicalError):
        canonical_json({"field": bad})


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_round_trips_and_is_stable(value: object) -> None:
    encoded = canonical_json(value)
    decoded = json.loads(encoded)
    assert canonical_json(decoded) == encoded  # parse + re-encode gives the same bytes


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_round_trip_exactly(x: float) -> None:
    back = float(format_number(x))
    assert back == x or (x == 0 and back == 0)
    assert not math.isnan(back)


any_keys = st.text(max_size=4) | st.sampled_from(["\ue000", "\U0001f600", "\ufb01x", "\x1f"])
wide_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_keys, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(wide_values)
def test_fast_encoder_matches_the_reference(value: object) -> None:
    assert canonical_json(value) == reference_canonical_json(value)
