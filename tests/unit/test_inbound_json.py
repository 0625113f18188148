"""Untrusted JSON from providers: nesting is measured without recursion, brackets inside strings do not
count, and anything deeper than the limit is a typed InvalidReturn, never a RecursionError."""
import json

import pytest

from payments.exceptions import InvalidReturn
from payments.providers.inbound import MAX_DEPTH, load_json, nesting_depth


@pytest.mark.parametrize("text, depth", [
    ("{}", 1),
    ('{"a": [1, {"b": []}]}', 4),
    ('{"a": "[[[[{{{{"}', 1),
    ('{"a": "\\"[[[", "b": [[]]}', 3),  # an escaped quote does not end the string
    ('["\\\\", [[]]]', 3),  # an escaped backslash before the closing quote does
    ("plain", 0),
])
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    assert nesting_depth(text) == depth


def test_a_body_at_the_limit_parses_and_one_level_deeper_is_refused():
    at_limit = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_json(at_limit) is not None
    with pytest.raises(InvalidReturn, match="nested too deeply"):
        load_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_a_flood_of_brackets_is_a_typed_error():
    with pytest.raises(InvalidReturn):
        load_json("[" * 200_000)


def test_many_brackets_in_strings_and_siblings_are_not_depth():
    body = json.dumps({"lines": [{"name": "[" * 100, "tags": []} for _ in range(200)]})
    assert load_json(body)["lines"][0]["name"] == "[" * 100
