"""A small validator for the OpenAPI 3.0/3.1 schema subset the providers' specs use.

Why not a JSON-Schema library: none is installed, and we want the provider's *error format*, not a
generic one. 29 Next's spec comes from drf-spectacular, so errors are shaped like Django REST Framework:
`{"field": ["message"]}`, nested dicts for objects, a list with one entry per item for lists of objects
(`{"lines": [{}, {"quantity": ["This field is required."]}]}`) and `{"0": [...]}` for lists of scalars.

Supported: type (string or list, incl. "null"), nullable, required, properties, additionalProperties
(truthy = keep unknown keys), items, enum, $ref (#/components/schemas/...), allOf (merged), oneOf/anyOf
(the first branch that fits wins), minLength/maxLength, pattern, minimum/maximum, default, formats
uri/email/date/date-time/decimal. On input, readOnly properties are ignored and unknown keys are dropped,
as DRF does; with direction="response" the writeOnly ones are skipped instead and formats are not checked.
"""
from __future__ import annotations

import copy
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from .server import json_copy

Errors = Any  # list[str] | dict[str, Errors] | list[Errors]
_NO_MATCH = object()
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TRUE = {"true", "True", "1", "on", "yes"}
_FALSE = {"false", "False", "0", "off", "no"}
_TYPE_ERRORS = {
    "string": "Not a valid string.",
    "integer": "A valid integer is required.",
    "number": "A valid number is required.",
    "boolean": "Must be a valid boolean.",
}


def _type_name(value: Any) -> str:
    return type(value).__name__


class Validator:
    def __init__(self, components: dict | None = None, *, direction: str = "request", coerce: bool = False):
        """`coerce` accepts strings for numbers and booleans (urlencoded form bodies carry only strings)."""
        self.components = components or {}
        self.direction = direction
        self.coerce = coerce

    def validate(self, schema: dict, value: Any) -> tuple[Any, Errors | None]:
        """Return (cleaned value, errors or None). The top level must be an object, as DRF requires."""
        resolved = self.resolve(schema)
        if self._is_object(resolved) and not isinstance(value, dict):
            return None, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {_type_name(value)}."]}
        return self.clean(resolved, value)

    # --- schema plumbing -----------------------------------------------------------------
    def resolve(self, schema: dict) -> dict:
        """Follow $ref and merge allOf, keeping sibling keys (readOnly, nullable, default) on top."""
        schema = schema or {}
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            target = self.resolve(self.components.get(name, {}))
            schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        if "allOf" in schema:
            merged: dict = {}
            for part in schema["allOf"]:
                part = self.resolve(part)
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                required = list(merged.get("required", [])) + list(part.get("required", []))
                merged = {**part, **merged}
                if props:
                    merged["properties"] = props
                if required:
                    merged["required"] = required
            schema = {**merged, **{k: v for k, v in schema.items() if k != "allOf"}}
        return schema

    @staticmethod
    def _types(schema: dict) -> list[str]:
        declared = schema.get("type")
        types = declared if isinstance(declared, list) else [declared] if declared else []
        types = [t for t in types if t != "null"]
        if not types and "properties" in schema:
            types = ["object"]
        if not types and "items" in schema:
            types = ["array"]
        return types

    def _allows_null(self, schema: dict) -> bool:
        declared = schema.get("type")
        if schema.get("nullable") or declared == "null" or (isinstance(declared, list) and "null" in declared):
            return True
        if None in schema.get("enum", ()):
            return True
        branches = schema.get("oneOf") or schema.get("anyOf")
        if branches:
            return any(self._allows_null(self.resolve(b)) for b in branches)
        return not declared and not schema.get("properties") and not schema.get("items")

    def _is_object(self, schema: dict) -> bool:
        return "object" in self._types(self.resolve(schema))

    # --- values --------------------------------------------------------------------------
    def clean(self, schema: dict, value: Any) -> tuple[Any, Errors | None]:
        schema = self.resolve(schema)
        if value is None:
            return (None, None) if self._allows_null(schema) else (None, ["This field may not be null."])
        branches = schema.get("oneOf") or schema.get("anyOf")
        if branches:
            return self._clean_alternatives(branches, value)
        types = self._types(schema)
        if not types:
            return json_copy(value), None  # free-form ({} in the spec)
        for kind in types:
            result = getattr(self, f"_clean_{kind}", self._clean_unknown)(schema, value)
            if result is not _NO_MATCH:
                return result
        if "object" in types and schema.get("properties"):
            return value, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {_type_name(value)}."]}
        if "object" in types:
            return value, [f'Expected a dictionary of items but got type "{_type_name(value)}".']
        if "array" in types:
            return value, [f'Expected a list of items but got type "{_type_name(value)}".']
        return value, [_TYPE_ERRORS.get(types[0], "Invalid value.")]

    def _clean_alternatives(self, branches: list[dict], value: Any) -> tuple[Any, Errors | None]:
        first_errors = None
        for branch in branches:
            branch = self.resolve(branch)
            if branch.get("type") == "null":
                continue
            cleaned, errors = self.clean(branch, value)
            if not errors:
                return cleaned, None
            first_errors = first_errors or errors
        return value, first_errors or ["Invalid value."]

    def _clean_unknown(self, schema: dict, value: Any) -> Any:
        return json_copy(value), None

    def _clean_object(self, schema: dict, value: Any) -> Any:
        if not isinstance(value, dict):
            return _NO_MATCH
        props = schema.get("properties")
        if props is None:
            return json_copy(value), None
        out: dict = json_copy(value) if schema.get("additionalProperties") else {}
        errors: dict = {}
        required = set(schema.get("required", ()))
        for name, prop in props.items():
            prop = self.resolve(prop)
            if prop.get("readOnly" if self.direction == "request" else "writeOnly"):
                out.pop(name, None)
                continue
            if name not in value:
                if name in required:
                    errors[name] = ["This field is required."]
                elif "default" in prop and self.direction == "request":
                    out[name] = copy.deepcopy(prop["default"])
                continue
            cleaned, error = self.clean(prop, value[name])
            if error:
                errors[name] = error
            else:
                out[name] = cleaned
        return out, errors or None

    def _clean_array(self, schema: dict, value: Any) -> Any:
        if self.coerce and isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            return _NO_MATCH
        items = self.resolve(schema.get("items", {}))
        if "minItems" in schema and len(value) < schema["minItems"]:
            return value, [f"Ensure this field has at least {schema['minItems']} elements."]
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return value, [f"Ensure this field has no more than {schema['maxItems']} elements."]
        results = [self.clean(items, item) for item in value]
        if not any(error for _, error in results):
            return [cleaned for cleaned, _ in results], None
        if self._is_object(items):
            return value, [error or {} for _, error in results]
        return value, {str(i): error for i, (_, error) in enumerate(results) if error}

    def _clean_string(self, schema: dict, value: Any) -> Any:
        if not isinstance(value, str):
            return _NO_MATCH
        if "enum" in schema and value not in schema["enum"]:
            return value, [f'"{value}" is not a valid choice.']
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return value, [f"Ensure this field has no more than {schema['maxLength']} characters."]
        if "minLength" in schema and len(value) < schema["minLength"]:
            return value, [f"Ensure this field has at least {schema['minLength']} characters."]
        fmt = schema.get("format")
        if fmt == "decimal" and "pattern" in schema and not re.search(schema["pattern"], value):
            return value, [_decimal_error(value)]
        if fmt == "decimal" and not _is_number(value):
            # the spec's pattern also matches "", "." and "-", which DRF's DecimalField refuses
            return value, [_TYPE_ERRORS["number"]]
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return value, ["This value does not match the required pattern."]
        if self.direction == "request" and fmt:
            error = _format_error(fmt, value)
            if error:
                return value, [error]
        return value, None

    def _clean_integer(self, schema: dict, value: Any) -> Any:
        if self.coerce and isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            return _NO_MATCH
        return value, _range_error(schema, value)

    def _clean_number(self, schema: dict, value: Any) -> Any:
        if self.coerce and isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                return _NO_MATCH
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return _NO_MATCH
        return value, _range_error(schema, value)

    def _clean_boolean(self, schema: dict, value: Any) -> Any:
        if self.coerce and isinstance(value, str) and value in _TRUE | _FALSE:
            value = value in _TRUE
        return (value, None) if isinstance(value, bool) else _NO_MATCH


def _range_error(schema: dict, value: float) -> list[str] | None:
    if "enum" in schema and value not in schema["enum"]:
        return [f'"{value}" is not a valid choice.']
    if "minimum" in schema and value < schema["minimum"]:
        return [f"Ensure this value is greater than or equal to {schema['minimum']}."]
    if "maximum" in schema and value > schema["maximum"]:
        return [f"Ensure this value is less than or equal to {schema['maximum']}."]
    return None


def _is_number(value: str) -> bool:
    try:
        return Decimal(value.strip()).is_finite()
    except InvalidOperation:
        return False


def _decimal_error(value: str) -> str:
    """DRF DecimalField(max_digits=12, decimal_places=2) messages, which the spec's pattern encodes."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return "A valid number is required."
    if not number.is_finite():
        return "A valid number is required."
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > 2:
        return "Ensure that there are no more than 2 decimal places."
    return "Ensure that there are no more than 10 digits before the decimal point."


def _format_error(fmt: str, value: str) -> str | None:
    if fmt == "uri":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "ftp", "ftps") or not parts.hostname or re.search(r"\s", value):
            return "Enter a valid URL."
    elif fmt == "email":
        if not _EMAIL.match(value):
            return "Enter a valid email address."
    elif fmt == "date-time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ("Datetime has wrong format. Use one of these formats instead: "
                    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")
    elif fmt == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
    return None


def merge_errors(first: Errors | None, second: Errors | None) -> Errors | None:
    """Combine two DRF-shaped error trees (spec errors plus the provider's own rules)."""
    if not first:
        return second or None
    if not second:
        return first
    if isinstance(first, dict) and isinstance(second, dict):
        merged = dict(first)
        for key, value in second.items():
            merged[key] = merge_errors(merged.get(key), value)
        return merged
    if isinstance(first, list) and isinstance(second, list):
        if all(isinstance(x, str) for x in first + second):
            return first + [m for m in second if m not in first]
        if all(isinstance(x, dict) for x in first + second):
            longest = max(len(first), len(second))
            pad = lambda xs: xs + [{}] * (longest - len(xs))  # noqa: E731
            return [merge_errors(a, b) or {} for a, b in zip(pad(first), pad(second))]
    return first
