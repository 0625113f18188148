"""29 Next webhook signatures: X-29Next-Signature = hex HMAC-SHA256 of the payload.

The docs' example signs json.dumps(parsed body) (Python's default separators); a delivery whose raw
bytes are exactly that serialisation verifies either way. We check the raw body first (what is
actually signed on the wire), then the docs' re-serialisation, always in constant time.
"""
import hashlib
import hmac
import json

from ...exceptions import InvalidReturn
from ..inbound import load_json


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    if not secret or not signature:
        return False
    # Bytes, not str: compare_digest refuses non-ASCII text, and the header is anyone's to write.
    given = signature.strip().lower().encode("utf-8", "replace")
    if hmac.compare_digest(sign(secret, body).encode(), given):
        return True
    try:
        reserialised = json.dumps(load_json(body)).encode()
    except InvalidReturn:
        return False
    return hmac.compare_digest(sign(secret, reserialised).encode(), given)
