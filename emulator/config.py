"""Run-time settings of the emulator, changed through `PATCH /_emulator/config`.

Why a typed store: tests flip behaviour (rate limit, webhook target, payment status) between cases and a
typo must fail loudly instead of silently doing nothing. Defaults are fixed at start-up (from the
environment), and `reset()` goes back to them so every test starts from the same place.
"""
from __future__ import annotations

import copy
import threading
from typing import Any

from .server import json_copy


class ConfigError(ValueError):
    pass


class Config:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._defaults: dict[str, Any] = {"latency_ms": 0}
        self._choices: dict[str, tuple] = {}
        self._values = copy.deepcopy(self._defaults)

    def register(self, section: str, defaults: dict[str, Any], choices: dict[str, tuple] | None = None) -> None:
        """A provider declares its settings; the type of each default is the type PATCH must send."""
        with self._lock:
            self._defaults[section] = dict(defaults)
            self._values[section] = dict(defaults)
            for key, allowed in (choices or {}).items():
                self._choices[f"{section}.{key}"] = tuple(allowed)

    def get(self, *path: str) -> Any:
        with self._lock:
            value: Any = self._values
            for key in path:
                value = value[key]
            return json_copy(value)  # read on every API call (latency, settings)

    def set(self, section: str, key: str, value: Any) -> None:
        """Internal changes (e.g. a 410 answer disabling the configured webhook target)."""
        with self._lock:
            self._values[section][key] = value

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._values)

    def reset(self) -> None:
        with self._lock:
            self._values = copy.deepcopy(self._defaults)

    def patch(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Validate everything first, then apply, so a bad request changes nothing."""
        with self._lock:
            updated = copy.deepcopy(self._values)
            self._merge(updated, self._defaults, changes, prefix="")
            self._values = updated
            return copy.deepcopy(updated)

    def _merge(self, target: dict, defaults: dict, changes: Any, prefix: str) -> None:
        if not isinstance(changes, dict):
            raise ConfigError(f"Expected an object for '{prefix or 'config'}'.")
        for key, value in changes.items():
            name = f"{prefix}{key}"
            if key not in defaults:
                raise ConfigError(f"Unknown config key '{name}'.")
            default = defaults[key]
            if isinstance(default, dict):
                self._merge(target[key], default, value, prefix=f"{name}.")
                continue
            if not _same_type(default, value):
                raise ConfigError(f"'{name}' must be of type {type(default).__name__}.")
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ConfigError(f"'{name}' must not be negative.")
            allowed = self._choices.get(name)
            if allowed and value not in allowed:
                raise ConfigError(f"'{name}' must be one of {', '.join(map(str, allowed))}.")
            target[key] = value


def _same_type(default: Any, value: Any) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, type(default))


def env_flag(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() not in ("0", "false", "no", "off")
