"""Reading what providers send, safely: bounded JSON and derived message identities.

Adapters parse bodies that anyone on the internet can post. json.loads recurses per nesting level, so a
body of 100,000 `[` is a RecursionError (a 500) before any signature is looked at; `load_json` measures
the nesting first with a flat scan and refuses anything deeper than a provider ever sends.
"""
import hashlib
import json
import re

from ..exceptions import InvalidReturn

MAX_BODY = 1024 * 1024
MAX_DEPTH = 32


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside JSON strings, without recursion: the strings are cut out by a
    regular expression and only the brackets left are walked (a Python loop over every character cost a
    third of a millisecond per provider body). An unterminated string stays in the text, so its brackets
    count: that only over-states the depth of something that is not JSON anyway."""
    depth = deepest = 0
    for bracket in _BRACKET.findall(_JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_json(data: bytes | str, *, what: str = "body", max_bytes: int = MAX_BODY, max_depth: int = MAX_DEPTH):
    """Parse JSON from an untrusted source. Raises InvalidReturn (never RecursionError, never
    UnicodeDecodeError) for anything too large, too deep, not UTF-8 or not JSON."""
    if len(data) > max_bytes:
        raise InvalidReturn(f"{what} is too large")
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise InvalidReturn(f"{what} is not UTF-8") from None
    # Fewer opening brackets than the limit cannot nest deeper: most bodies stop at two C-level counts.
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise InvalidReturn(f"{what} is nested too deeply")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidReturn(f"{what} is not JSON") from None


def load_json_object(data: bytes | str, *, what: str = "body", **limits) -> dict:
    value = load_json(data, what=what, **limits)
    if not isinstance(value, dict):
        raise InvalidReturn(f"{what} is not a JSON object")
    return value


def derived_key(*parts: str) -> str:
    """A stable identity for a message whose provider sends no event id: the parts, hashed so that any
    length of input makes a key of fixed size."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{parts[0]}:{digest[:40]}" if parts else digest


def clean_text(value, *, limit: int = 255) -> str:
    """A provider-supplied string fit for our database and logs: NUL and other control characters and
    lone surrogates removed, length bounded."""
    text = str(value)
    text = "".join(ch for ch in text if ch >= " " and not 0xD800 <= ord(ch) <= 0xDFFF)
    return text[:limit]
