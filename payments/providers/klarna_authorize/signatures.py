"""Klarna v2 webhook signatures: `Klarna-Signature` is the lowercase hex HMAC-SHA256 of the raw request
body under the signing key (reference §7; hex as a production plugin computes it, the docs are silent).
The key is picked by `Klarna-Signing-Key-Id`, so several can be active while a key is rotated.

Only the raw bytes are signed: we never re-serialise the body, and compare in constant time.
"""
import hashlib
import hmac

SIGNATURE_HEADER = "Klarna-Signature"
KEY_ID_HEADER = "Klarna-Signing-Key-Id"


def sign(signing_key: str, body: bytes) -> str:
    return hmac.new(signing_key.encode(), body, hashlib.sha256).hexdigest()


def verify(signing_key: str, body: bytes, signature: str | None) -> bool:
    """True only for a signature made with `signing_key` over exactly `body`. A missing key or header,
    or a header too long to be a hex digest, is False (never an exception)."""
    if not signing_key or not signature or len(signature) > 128:
        return False
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, not a mismatch), and a
    # header may carry any byte an attacker likes.
    given = signature.strip().lower().encode("utf-8", "surrogateescape")
    return hmac.compare_digest(sign(signing_key, body).encode(), given)


def key_for(key_id: str | None, keys: dict, default: str) -> str:
    """The signing key a webhook names by id among the active `keys`, else `default`."""
    if isinstance(key_id, str) and isinstance(keys, dict):
        named = keys.get(key_id.strip())
        if isinstance(named, str) and named:
            return named
    return default
