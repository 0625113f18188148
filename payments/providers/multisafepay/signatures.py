"""MultiSafepay POST-notification signatures: the `Auth` header (reference notes §6).

    Auth = base64( timestamp + ":" + hex( HMAC-SHA512(key=api_key, msg=timestamp + ":" + raw_body) ) )

with `timestamp` Unix seconds. This is what php-sdk `Notification::verifyNotification` and the official
plugins check, and what both published test vectors (shared/reference/multisafepay/
webhook-signature-vectors.json) satisfy. Choices:
- Only the raw body bytes are verified. The Python SDK re-serialises the JSON first; the docs' own vector
  (with a `", "` in it) fails that way, so a fallback would only widen what an attacker may send.
- Stale means older than `tolerance` seconds (php-sdk default 600; 0 turns the check off, for the vectors).
  A timestamp more than `tolerance` in the future is refused too: a clock skew that large is not
  MultiSafepay's, and accepting it would let a captured header live longer than the window.
- The API key is stripped of surrounding whitespace, as php-sdk does (keys pasted into settings).
- GET notifications carry no signature: they are not verified here; the caller reads the order back.
"""
import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass

DEFAULT_TOLERANCE = 600


@dataclass(frozen=True)
class Verification:
    ok: bool
    reason: str = ""  # why it failed: missing, malformed, stale, mismatch
    timestamp: int | None = None  # the signed timestamp, also part of a notification's identity

    def __bool__(self) -> bool:
        return self.ok


def _hex_mac(api_key: str, timestamp: str, body: bytes) -> str:
    return hmac.new(api_key.strip().encode(), timestamp.encode() + b":" + body, hashlib.sha512).hexdigest()


def sign(api_key: str, body: bytes, timestamp: int) -> str:
    """The `Auth` header MultiSafepay would send for `body` at `timestamp` (for tests and tools)."""
    stamp = str(int(timestamp))
    return base64.b64encode(f"{stamp}:{_hex_mac(api_key, stamp, body)}".encode()).decode("ascii")


def verify(api_key: str, body: bytes, auth_header: str | None, *, tolerance: int = DEFAULT_TOLERANCE,
           now: float | None = None) -> Verification:
    """Check `auth_header` over the raw `body`; constant-time comparison. Never raises on bad input."""
    if not api_key or not api_key.strip() or not auth_header:
        return Verification(False, "missing")
    try:
        decoded = base64.b64decode(auth_header.strip(), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return Verification(False, "malformed")
    stamp, separator, given = decoded.partition(":")
    if not separator or not stamp.isdigit() or not given or len(stamp) > 12:
        return Verification(False, "malformed")
    timestamp = int(stamp)
    if tolerance:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            return Verification(False, "stale", timestamp)
    if not hmac.compare_digest(_hex_mac(api_key, stamp, body), given.strip().lower()):
        return Verification(False, "mismatch", timestamp)
    return Verification(True, "", timestamp)
