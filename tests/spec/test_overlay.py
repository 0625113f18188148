"""The overlay's entry forms on a small document, and every spec's overlay still applying to its spec (an
entry that matches nothing means the published spec changed under it)."""
from __future__ import annotations

import pytest

from tests.spec.overlay import OverlayError, apply_overlay, load_overlay
from tests.spec.specs import SPECS, load_document

DOCUMENT = {
    "paths": {
        "/orders/{psp_id}": {"get": {"operationId": "getOrder"}},
        "/orders/{order_id}": {"patch": {"operationId": "updateOrder"}},
    },
    "schema": {"oneOf": [{"type": "object"}, {"type": "object"}], "description": "either"},
    "costs": {"type": "object", "description": "fees"},
}


def test_move_then_delete_joins_two_templates_of_one_path():
    moved = apply_overlay(DOCUMENT, [
        {"at": "/paths/~1orders~1{psp_id}/get", "move_to": "/paths/~1orders~1{order_id}/get"},
        {"at": "/paths/~1orders~1{psp_id}", "delete": True},
    ])
    assert moved["paths"] == {"/orders/{order_id}": {"patch": {"operationId": "updateOrder"},
                                                     "get": {"operationId": "getOrder"}}}
    assert "/orders/{psp_id}" in DOCUMENT["paths"], "the published document is never changed"


def test_transforms():
    changed = apply_overlay(DOCUMENT, [{"at": "/schema", "transform": "one-of-to-any-of"},
                                       {"at": "/costs", "transform": "array-of"}])
    assert "oneOf" not in changed["schema"] and len(changed["schema"]["anyOf"]) == 2
    assert changed["costs"] == {"type": "array", "items": DOCUMENT["costs"], "description": "fees"}


@pytest.mark.parametrize("entry", [
    {"at": "/paths/~1nowhere/get", "move_to": "/paths/~1orders~1{order_id}/get"},
    {"at": "/paths/~1orders~1{psp_id}/get", "move_to": "/paths/~1orders~1{order_id}/patch"},  # taken
    {"at": "/nowhere", "delete": True},
    {"at": "/costs", "transform": "one-of-to-any-of"},  # no oneOf there
])
def test_an_entry_that_matches_nothing_is_an_error(entry):
    with pytest.raises(OverlayError):
        apply_overlay(DOCUMENT, [entry])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_entry_applies_to_its_published_spec(spec):
    assert load_overlay()["specs"][spec.name]["entries"]
    assert load_document(spec)["paths"]
