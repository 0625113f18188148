"""MultiSafepay's official OpenAPI spec, split over hundreds of files, inlined into plain schemas.

Why our own loader: the shared `emulator/spec.py` reads one document with `#/components/schemas/...`
references, while MultiSafepay's spec (`$EMULATOR_SPEC_DIR/multisafepay/openapi/`) uses file references
relative to the referring file (`../Customer.yaml`), with path files named `orders@{order_id}.yaml`. We load
the few request bodies the emulator checks and replace every `$ref` by the file it names, so the shared
validator sees self-contained schemas. A missing spec leaves `None`: the hand-written rules in `rules.py`
still run and `GET /_emulator/health` reports `"multisafepay": false`.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml

from ..spec import JSONLoader, spec_dir

log = logging.getLogger("emulator.multisafepay")
COMPONENTS = "multisafepay/openapi/components"
DOCUMENT = "multisafepay/openapi/docsopenapi.yaml"
# What the emulator checks, by the spec file that defines it.
REQUEST_SCHEMAS = {
    "order": "schemas/orders/BNPL.yaml",
    "ship": "requestBody/ShipOrder.yaml",
    "cancel": "requestBody/CancelOrder.yaml",
    "extend": "requestBody/ExtendKlarna.yaml",
    "refund_bnpl": "requestBody/RefundBNPL.yaml",
    "refund": "requestBody/Refund.yaml",
}
MAX_DEPTH = 30


def _load(path: Path, cache: dict[Path, Any]) -> Any:
    if path not in cache:
        with path.open("rb") as handle:
            cache[path] = yaml.load(handle, Loader=JSONLoader)
    return cache[path]


def _inline(node: Any, base: Path, cache: dict[Path, Any], depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise ValueError(f"$ref chain too deep near {base}")
    if isinstance(node, list):
        return [_inline(item, base, cache, depth) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("$ref"), str) and not node["$ref"].startswith("#"):
        target = (base / node["$ref"]).resolve()
        resolved = _inline(_load(target, cache), target.parent, cache, depth + 1)
        siblings = {k: _inline(v, base, cache, depth) for k, v in node.items() if k != "$ref"}
        return {**resolved, **siblings} if isinstance(resolved, dict) else resolved
    return {key: _inline(value, base, cache, depth) for key, value in node.items()}


def load_component(relative: str, root: Path | None = None, cache: dict[Path, Any] | None = None) -> dict:
    """One spec file under `components/` (e.g. `schemas/OrderDetails.yaml`) with every `$ref` inlined.
    Raises OSError, yaml.YAMLError or ValueError. Tests use it to check answers against the spec."""
    path = ((root or spec_dir()) / COMPONENTS / relative).resolve()
    return _inline(_load(path, cache if cache is not None else {}), path.parent, cache if cache is not None else {})


def load_document(path: Path | None = None) -> dict:
    """The whole official document (`docsopenapi.yaml`: paths, request bodies, answers, examples) with every
    file `$ref` inlined, for tools that need one self-contained OpenAPI document (the spec tier). Its path
    references read `./openapi/paths/...`: MultiSafepay publishes the document one folder above `openapi/`,
    so they resolve from the folder above the one it sits in. Raises OSError, yaml.YAMLError or ValueError."""
    path = (path or spec_dir() / DOCUMENT).resolve()
    cache: dict[Path, Any] = {}
    return _inline(_load(path, cache), path.parent.parent, cache)


def load_request_schemas(root: Path | None = None) -> dict[str, dict] | None:
    """{name: inlined schema} for REQUEST_SCHEMAS, or None (with a warning) when the spec is absent."""
    components = (root or spec_dir()) / COMPONENTS
    cache: dict[Path, Any] = {}
    try:
        schemas = {name: load_component(relative, root, cache) for name, relative in REQUEST_SCHEMAS.items()}
    except (OSError, yaml.YAMLError, ValueError) as exc:
        log.warning("MultiSafepay spec not usable (%s): using the hand-written rules only", exc)
        return None
    log.info("loaded MultiSafepay spec schemas from %s (%d files)", components, len(cache))
    return schemas
