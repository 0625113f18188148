"""The emulator against the official specs (overlay applied): schemathesis' examples, coverage and
fuzzing phases for every operation the shop uses, with a fixed seed and a time box per spec, must find no
failure of not_a_server_error, response_schema_conformance, content_type_conformance or
status_code_conformance; and every operation must reach its success answer at least once (so the pinned,
seeded objects really are used and the run is not just a wall of 404s).
"""
from __future__ import annotations

import os

import pytest

from tests.spec.conformance import run
from tests.spec.seed import seed
from tests.spec.specs import SPECS

SEED = 20261201
SECONDS_PER_SPEC = int(os.environ.get("SPEC_TIER_SECONDS", "30"))  # 4 specs: about two minutes in all


@pytest.fixture(scope="module")
def targets(fuzz_emulator):
    return seed(fuzz_emulator)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_emulator_conforms_to_the_spec(fuzz_emulator, targets, spec):
    report = run(spec, fuzz_emulator.url, targets[spec.name], seed=SEED, max_time=SECONDS_PER_SPEC)
    print(f"{spec.name}: {report.summary()}")
    assert report.failures == [], "\n".join(report.failures)
    assert "examples" in report.phases and "coverage" in report.phases, report.summary()
    operations = {f"{method.upper()} {path}" for path, item in report_paths(spec).items() for method in item}
    assert operations <= report.succeeded, f"never answered 2xx: {sorted(operations - report.succeeded)}"


def report_paths(spec) -> dict[str, dict]:
    from tests.spec.specs import METHODS, load_document

    return {path: {m: op for m, op in item.items() if m in METHODS}
            for path, item in load_document(spec)["paths"].items()}
