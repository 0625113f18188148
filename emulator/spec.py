"""Load a provider's official OpenAPI document and expose what the emulator checks against it.

Why: rule 10 says requests are checked against the official specs in `shared/reference/`. The spec is the
contract; the hand-written rules in each provider package only add what the spec cannot say (and stand in
for it when the file is absent, so the emulator still starts, with a warning).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import yaml

from .schema import Validator

log = logging.getLogger("emulator.spec")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml loads the 900 kB spec in well under a second


class JSONLoader(_Loader):
    """YAML as JSON sees it: an unquoted `example: 2019-01-01` stays a string. The specs are JSON Schema;
    a date object in one breaks JSON validators and cannot be sent as an example."""


JSONLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

METHODS = ("get", "post", "put", "patch", "delete")


def spec_dir() -> Path:
    """EMULATOR_SPEC_DIR, else `<repo>/../shared/reference` (the project's reference folder)."""
    configured = os.environ.get("EMULATOR_SPEC_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "reference"


class Spec:
    def __init__(self, document: dict, source: Path):
        self.document = document
        self.source = source
        self.components: dict = document.get("components", {}).get("schemas", {})
        self.operations: dict[str, tuple[str, str, dict]] = {}
        for path, item in (document.get("paths") or {}).items():
            for method in METHODS:
                operation = item.get(method)
                if operation and operation.get("operationId"):
                    self.operations[operation["operationId"]] = (method.upper(), path, operation)

    @classmethod
    def load(cls, relative_path: str) -> "Spec | None":
        path = spec_dir() / relative_path
        if not path.is_file():
            log.warning("spec %s not found: using the emulator's hand-written rules only", path)
            return None
        try:
            with path.open("rb") as handle:
                document = yaml.load(handle, Loader=_Loader)
        except (OSError, yaml.YAMLError) as exc:
            log.warning("spec %s unreadable (%s): using the hand-written rules only", path, exc)
            return None
        log.info("loaded spec %s (%d operations)", path, len(document.get("paths") or {}))
        return cls(document, path)

    def schema(self, name: str) -> dict | None:
        return {"$ref": f"#/components/schemas/{name}"} if name in self.components else None

    def request_schema(self, operation_id: str, content_type: str = "application/json") -> dict | None:
        entry = self.operations.get(operation_id)
        if not entry:
            return None
        content = (entry[2].get("requestBody") or {}).get("content") or {}
        media = content.get(content_type) or content.get("application/json") or {}
        return media.get("schema")

    def header_enum(self, operation_id: str, header: str) -> list[str] | None:
        entry = self.operations.get(operation_id)
        for parameter in (entry[2].get("parameters", []) if entry else []):
            if parameter.get("in") == "header" and parameter.get("name", "").lower() == header.lower():
                return [v for v in parameter.get("schema", {}).get("enum", []) if v is not None]
        return None

    def query_parameters(self, operation_id: str) -> dict[str, dict]:
        """name -> schema of the operation's query parameters (the list filters)."""
        entry = self.operations.get(operation_id)
        return {p["name"]: p.get("schema") or {} for p in (entry[2].get("parameters", []) if entry else [])
                if p.get("in") == "query" and p.get("name")}

    def webhook_events(self) -> list[str]:
        return sorted((self.document.get("webhooks") or {}).keys())

    def validator(self, **options: Any) -> Validator:
        return Validator(self.components, **options)
