"""Validate what the shop's clients sent to the emulator (its request log, as JSON lines) against the
official specs with the overlay applied, using openapi-core.

Why from the emulator's log: it records the exact method, path, query, headers and body that reached the
"provider", whichever code path (service, task, admin action, browser flow) produced them; checking them
against the spec catches a client that the emulator's own leniency (unknown fields ignored) would hide.
Credentials are never logged, so security schemes are not checked here (the integration tests do that: a
bad credential fails their calls).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from jsonschema_path import SchemaPath
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
from openapi_core.testing import MockRequest
from openapi_core.validation.request.exceptions import MissingRequestBody, RequestValidationError
from openapi_core.validation.request.validators import (
    V30RequestBodyValidator,
    V30RequestParametersValidator,
    V31RequestBodyValidator,
    V31RequestParametersValidator,
)

from tests.spec.specs import SPECS, WITHOUT_SPEC, SpecUnderTest, load_document

HOST = "http://emulator"


class SpecValidator:
    """Parameter and body validators for one spec, served at `HOST + base_path` as on the emulator."""

    def __init__(self, spec: SpecUnderTest) -> None:
        document = request_view(load_document(spec, prune=False))
        document["servers"] = [{"url": HOST + spec.base_path}]
        path = SchemaPath.from_dict(document)
        v31 = str(document.get("openapi", "")).startswith("3.1")
        self.spec = spec
        self.validators = ((V31RequestParametersValidator if v31 else V30RequestParametersValidator)(path),
                           (V31RequestBodyValidator if v31 else V30RequestBodyValidator)(path))

    def errors(self, entry: dict) -> list[str] | None:
        """None when the request is not one of this spec's operations; else its violations ([] = valid)."""
        if not entry["path"].startswith(self.spec.base_path.rstrip("/") + "/"):
            return None  # openapi-core finds a template anywhere in the URL (MultiSafepay `/orders` in 29 Next's)
        headers = entry.get("headers") or {}
        query = {k: v if isinstance(v, list) else [v] for k, v in (entry.get("query") or {}).items()}
        request = MockRequest(HOST, entry["method"], entry["path"], args=_multi(query), headers=headers,
                              data=(entry.get("body") or "").encode(),
                              content_type=headers.get("content-type", "application/json"))
        found = []
        for validator in self.validators:
            try:
                validator.validate(request)
            except (PathNotFound, ServerNotFound, OperationNotFound):
                return None
            except MissingRequestBody:
                # an absent body where the spec's is optional (29 Next's retry): valid; openapi-core's
                # body-only validator reports it, where its full request validator lets it pass
                continue
            except RequestValidationError as exc:
                found.append(_describe(exc))
        return found


def request_view(node):
    """The spec as a request sees it: OpenAPI says a readOnly property is never sent by the client, so
    `required` does not apply to it in requests (drf-spectacular lists `id` as required on address
    schemas); openapi-core's 3.1 validator applies `required` as plain JSON Schema, so drop those names."""
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict) and isinstance(node.get("required"), list):
            node["required"] = [name for name in node["required"]
                                if not (isinstance(properties.get(name), dict) and properties[name].get("readOnly"))]
        for value in node.values():
            request_view(value)
    elif isinstance(node, list):
        for value in node:
            request_view(value)
    return node


def _multi(query: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Repeated filters (`status=a&status=b`) as pairs: MockRequest wraps them in a multi-dict."""
    return [(k, v) for k, values in query.items() for v in values]


def _describe(exc: Exception) -> str:
    """The innermost schema errors (path and message), not the whole body the outer error repeats."""
    found: list[str] = []
    cause = exc
    while cause is not None and not found:
        for error in getattr(cause, "schema_errors", None) or []:
            leaves = _leaves(error)
            found.extend(f"{'/'.join(map(str, e.absolute_path)) or 'body'}: {e.message[:160]}" for e in leaves)
        cause = cause.__cause__
    return f"{type(exc).__name__}" + (f": {'; '.join(sorted(set(found))[:5])}" if found else f": {exc}")


def _leaves(error) -> list:
    if not error.context:
        return [error]
    return [leaf for sub in error.context for leaf in _leaves(sub)]


def logged_requests(directory: Path) -> Iterator[dict]:
    """Provider API requests from every log file in `directory` (hosted pages are not in the specs)."""
    for path in sorted(directory.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry.get("route_kind") == "api":
                yield entry


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)  # one line per request that breaks its spec or matches none
    checked: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # WITHOUT_SPEC base path -> requests not checked
    per_spec: dict[str, int] = field(default_factory=dict)  # spec name -> requests it matched


def violations(entries: Iterable[dict]) -> Findings:
    """Every logged request against the spec its path belongs to; WITHOUT_SPEC paths are counted, not checked."""
    validators = [SpecValidator(spec) for spec in SPECS]
    found = Findings()
    problems = found.problems
    for entry in entries:
        unchecked = next((base for base in WITHOUT_SPEC if entry["path"].startswith(base)), None)
        if unchecked is not None:
            found.skipped[unchecked] = found.skipped.get(unchecked, 0) + 1
            continue
        found.checked += 1
        results = [v.errors(entry) for v in validators]
        matched = [r for r in results if r is not None]
        for validator, result in zip(validators, results):
            if result is not None:
                found.per_spec[validator.spec.name] = found.per_spec.get(validator.spec.name, 0) + 1
        where = f"{entry['method']} {entry['path']}"
        if not matched:
            problems.append(f"{where}: no operation of the specs matches")
        elif all(matched_errors for matched_errors in matched):
            problems.append(f"{where}: {' | '.join(matched[0])}")
    found.problems = sorted(set(problems))
    return found
