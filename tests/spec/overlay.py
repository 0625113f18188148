"""Apply `overlay.yaml` to an official spec: the versioned list of places where a published spec is wrong or
silent, each with its reason, so the conformance checks hold the emulator to the spec everywhere else.

Why a file of edits and not edited copies of the specs: the specs in `shared/reference/` stay exactly as
published (a new version drops in unchanged), and every deviation is one reviewed line with a reason.

Entry forms (`at` is a JSON pointer; a `*` segment means every key of that object):
- `set: <value>` replaces (or adds) the value at `at`;
- `merge: {...}` adds keys to the object at `at` (existing keys win unless `replace: true`);
- `remove: [values]` drops those items from the list at `at`;
- `delete: true` drops the key at `at` itself;
- `move_to: <pointer>` takes the value at `at` (no `*`) out and puts it at `move_to`, whose parent must exist;
- `transform: nullable-to-type-null` rewrites OpenAPI 3.0's `nullable: true` (ignored by 3.1) as a `null`
  type, everywhere below `at`;
- `transform: one-of-to-any-of` turns the schema at `at`'s `oneOf` into `anyOf` (for variants that overlap,
  where a valid value matches several and `oneOf` would refuse it);
- `transform: array-of` makes the schema at `at` the `items` of an array schema (a list documented as one).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

import yaml

OVERLAY_FILE = Path(__file__).with_name("overlay.yaml")


class OverlayError(ValueError):
    """An entry that points nowhere or lacks its reason: the overlay must not rot silently."""


def load_overlay(path: Path = OVERLAY_FILE) -> dict:
    with path.open(encoding="utf-8") as handle:
        overlay = yaml.safe_load(handle)
    for name, spec in overlay["specs"].items():
        for entry in spec["entries"]:
            if not str(entry.get("reason", "")).strip():
                raise OverlayError(f"{name}: entry at {entry.get('at')} has no reason")
    return overlay


def apply_overlay(document: dict, entries: list[dict]) -> dict:
    """A copy of `document` with every entry applied in order; raises OverlayError for an entry that
    matches nothing (the published spec changed: review the entry)."""
    result = copy.deepcopy(document)
    for entry in entries:
        if "move_to" in entry:
            _move(result, entry["at"], entry["move_to"])
            continue
        *parents, last = _segments(entry["at"])
        targets = list(_resolve(result, parents)) if parents else [result]
        applied = 0
        for parent in targets:
            for key in (list(parent) if last == "*" else [last]) if isinstance(parent, dict) else []:
                applied += _apply(parent, key, entry)
        if not applied:
            raise OverlayError(f"overlay entry matches nothing: {entry['at']}")
    return result


def _move(document: dict, source: str, target: str) -> None:
    *from_parents, from_key = _segments(source)
    *to_parents, to_key = _segments(target)
    holders = list(_resolve(document, from_parents))
    destinations = list(_resolve(document, to_parents))
    if len(holders) != 1 or not isinstance(holders[0], dict) or from_key not in holders[0]:
        raise OverlayError(f"overlay move matches nothing: {source}")
    if len(destinations) != 1 or not isinstance(destinations[0], dict) or to_key in destinations[0]:
        raise OverlayError(f"overlay move has no free place at {target}")
    destinations[0][to_key] = holders[0].pop(from_key)


def _segments(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.lstrip("/").split("/") if part]


def _resolve(node: Any, segments: list[str]) -> Iterator[Any]:
    if not segments:
        yield node
        return
    head, rest = segments[0], segments[1:]
    if not isinstance(node, dict):
        return
    for key in (list(node) if head == "*" else [head]):
        if key in node:
            yield from _resolve(node[key], rest)


def _apply(parent: dict, key: str, entry: dict) -> int:
    if "set" in entry:
        parent[key] = copy.deepcopy(entry["set"])
        return 1
    if key not in parent:
        return 0
    if entry.get("delete") is True:
        del parent[key]
        return 1
    target = parent[key]
    if "merge" in entry and isinstance(target, dict):
        for name, value in entry["merge"].items():
            if entry.get("replace") or name not in target:
                target[name] = copy.deepcopy(value)
        return 1
    if "remove" in entry and isinstance(target, list):
        parent[key] = [item for item in target if item not in entry["remove"]]
        return 1
    transform = entry.get("transform")
    if transform == "nullable-to-type-null":
        return _nullable_to_type_null(target)
    if transform == "one-of-to-any-of" and isinstance(target, dict) and "oneOf" in target:
        target["anyOf"] = target.pop("oneOf")
        return 1
    if transform == "array-of" and isinstance(target, dict):
        description = target.get("description")
        parent[key] = {"type": "array", "items": target, **({"description": description} if description else {})}
        return 1
    return 0


def _nullable_to_type_null(node: Any) -> int:
    """`{type: X, nullable: true}` -> `{type: [X, "null"]}`; `{$ref/allOf.., nullable: true}` -> `anyOf` with null."""
    changed = 0
    if isinstance(node, dict):
        if node.pop("nullable", False) is True:
            changed += 1
            declared = node.get("type")
            if isinstance(declared, str):
                node["type"] = [declared, "null"]
            elif isinstance(declared, list):
                node["type"] = declared if "null" in declared else [*declared, "null"]
            else:
                inner = {k: node.pop(k) for k in list(node) if k not in ("description", "readOnly", "writeOnly")}
                node["anyOf"] = [inner, {"type": "null"}]
            if "enum" in node and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
        for value in node.values():
            changed += _nullable_to_type_null(value)
    elif isinstance(node, list):
        for value in node:
            changed += _nullable_to_type_null(value)
    return changed
