"""Run schemathesis against the running emulator for one spec (overlay applied, shop operations only) and
return every failure of the four conformance checks.

Why the engine and not `@schema.parametrize()`: one pytest test per spec runs all three phases (examples,
coverage, fuzzing) within one time box and reports every failing case at once, with the request that
caused it, instead of stopping at the first.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
from schemathesis.engine import Status, events, from_schema

from tests.spec.seed import Target
from tests.spec.specs import SpecUnderTest, load_document

CHECKS = ("not_a_server_error", "response_schema_conformance", "content_type_conformance",
          "status_code_conformance")


def config(spec: SpecUnderTest, base_url: str, targets: dict[str, Target], *, seed: int, max_examples: int,
           max_time: int) -> schemathesis.Config:
    """Only the four checks; every phase but stateful (its links are not in these specs); each operation's
    path parameters pinned to its seeded object."""
    return schemathesis.Config.from_dict({
        "seed": seed,
        "cache": {"enabled": False},  # every run starts from the seed alone: reproducible, nothing left behind
        "max-time": max_time,
        "base-url": base_url.rstrip("/") + spec.base_path,
        "headers": spec.headers,
        "operations": [{"include-operation-id": operation_id, "parameters": target.parameters}
                       for operation_id, target in targets.items() if target.parameters],
        "request-timeout": 10,
        "generation": {"max-examples": max_examples, "deterministic": True},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
                   "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


@dataclass
class Report:
    failures: list[str] = field(default_factory=list)
    sent: int = 0
    succeeded: set[str] = field(default_factory=set)  # operations ("POST /orders/") that answered 2xx
    phases: list[str] = field(default_factory=list)  # phases that ran to their end
    stop_reason: str = ""

    def summary(self) -> str:
        phases = ", ".join(dict.fromkeys(self.phases)) or "none"
        return (f"{self.sent} requests, phases finished: {phases}, "
                f"stopped: {self.stop_reason}, {len(self.failures)} failures")


def run(spec: SpecUnderTest, base_url: str, targets: dict[str, Target], *, seed: int = 20261201,
        max_examples: int = 10, max_time: int = 30) -> Report:
    """Examples, coverage, then fuzzing (which goes on until the time box) for every operation of `spec`."""
    document = with_examples(load_document(spec), targets)
    schema = schemathesis.openapi.from_dict(
        document, config=config(spec, base_url, targets, seed=seed, max_examples=max_examples, max_time=max_time))
    report = Report()
    failures = report.failures
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            report.sent += len(event.recorder.interactions)
            report.succeeded.update(f"{i.request.method} {event.recorder.cases[case_id].value.operation.path}"
                                    for case_id, i in event.recorder.interactions.items()
                                    if i.response is not None and 200 <= i.response.status_code < 300)
            failures.extend(_failures(event.recorder))
        elif isinstance(event, events.PhaseFinished) and event.status != Status.SKIP:
            report.phases.append(str(event.phase.name if hasattr(event.phase, "name") else event.phase))
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = str(event.stop_reason)
        elif isinstance(event, events.NonFatalError):
            failures.append(f"error in {event.phase} phase of {event.label}: {_last_frames(event.value)}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal error: {_last_frames(event.exception)}")
    report.failures = sorted(set(failures))
    return report


def with_examples(document: dict, targets: dict[str, Target]) -> dict:
    """The seeded valid bodies as each operation's JSON request `example`, and its pinned path parameters as
    their `example` (test data, not spec fixes): the examples phase then sends every operation one valid
    request first, so each reaches its success answer even when the coverage phase of a big operation
    (MultiSafepay's CreateOrder: seven order schemas) takes the rest of the time box."""
    for item in document["paths"].values():
        for operation in item.values():
            target = targets.get(operation.get("operationId")) if isinstance(operation, dict) else None
            if target is not None and target.parameters:
                _pin_examples(operation, item.get("parameters") or [], target.parameters)
            media = ((operation.get("requestBody") or {}).get("content") or {}).get("application/json") \
                if target is not None and target.example is not None else None
            if media is not None:
                media.pop("examples", None)
                media["example"] = target.example
    return document


def _pin_examples(operation: dict, shared: list[dict], values: dict[str, str]) -> None:
    """Operation-level copies of the pinned path parameters with `example` set (a path item's shared
    parameters stay untouched: its other operations are pinned to other objects)."""
    own = operation.get("parameters") or []
    declared = {p.get("name"): p for p in [*shared, *own] if isinstance(p, dict) and p.get("in") == "path"}
    pinned = {name: {**declared[name], "example": value} for name, value in values.items() if name in declared}
    operation["parameters"] = [p for p in own if not (isinstance(p, dict) and p.get("in") == "path"
                                                      and p.get("name") in pinned)] + list(pinned.values())


def _last_frames(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)[-3:]
    where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(error).__name__}: {error} (at {where})"


def _failures(recorder) -> list[str]:
    found = []
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.name not in CHECKS:
                continue
            case = recorder.cases[case_id].value
            interaction = recorder.interactions.get(case_id)
            status = interaction.response.status_code if interaction and interaction.response else None
            failure = check.failure_info.failure if check.failure_info else None
            title = failure.title if failure else ""
            # what the check says (which schema rule, where), cut before the long response body it quotes
            detail = " ".join(str(getattr(failure, "message", "")).split())[:400] if failure else ""
            found.append(f"{check.name}: {case.method} {case.formatted_path} -> {status}: {title}. {detail}")
    return found
