"""Every provider package of the emulator has the template's shape (emulator/README.md, "Adding a
provider"), so the next ones (MultiSafepay, Klarna Payment Authorize v2) are built the same way and join
the spec tier the same way: provider, wire envelope, state, rules, `*_api.py` wire handlers and control
routes, all registered through `emulator.routes.register_routes`, scripted outcomes through
`emulator.scenarios.ScenarioQueue`.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.emulator_process import REPO_ROOT

EMULATOR = REPO_ROOT / "emulator"
REQUIRED = ("__init__.py", "provider.py", "wire.py", "state.py", "rules.py", "control.py")
PACKAGES = sorted(p.parent for p in EMULATOR.glob("*/__init__.py"))


def test_there_are_provider_packages():
    assert {p.name for p in PACKAGES} >= {"next", "klarna"}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_provider_package_follows_the_template(package: Path):
    missing = [name for name in REQUIRED if not (package / name).is_file()]
    assert not missing, f"{package.name} lacks {missing}"
    assert list(package.glob("*_api.py")), f"{package.name} has no *_api.py wire handlers"
    for module in package.glob("*.py"):
        source = module.read_text(encoding="utf-8")
        assert not re.search(r"\brouter\.add\(", source), f"{module.name}: register routes with register_routes"
        assert "deque(" not in source, f"{module.name}: script outcomes with emulator.scenarios.ScenarioQueue"
    state = (package / "state.py").read_text(encoding="utf-8")
    assert "ScenarioQueue(" in state, f"{package.name}/state.py keeps no ScenarioQueue"
