"""Reading what Klarna v2 answers and sends: authorize results, payment requests, webhook envelopes and
the shopper's return. Everything here is bounded and typed: a body that is not what Klarna sends raises
InvalidReturn (a 4xx for the sender), never a KeyError or TypeError (a 500).
"""
from ...exceptions import InvalidReturn
from ..inbound import clean_text, load_json_object
from ..types import InboundMessage

# The payment request events that settle something; the others (submitted, in-progress) are news only.
SETTLING_EVENTS = frozenset(f"payment.request.state-change.{state}"
                            for state in ("completed", "expired", "canceled", "declined"))


def is_payment_request(provider_reference: str) -> bool:
    """Step-up attempts carry a payment request id; attempts decided at once a transaction id."""
    return provider_reference.startswith("krn:payment:") and ":request:" in provider_reference


def as_object(answer) -> dict:
    if not isinstance(answer, dict):
        raise InvalidReturn("Klarna answered with something that is not a JSON object")
    return answer


def result_of(answer: dict) -> tuple[str, dict]:
    response = answer.get("payment_transaction_response")
    if not isinstance(response, dict) or not isinstance(response.get("result"), str):
        raise InvalidReturn("Klarna answer without payment_transaction_response.result")
    transaction = response.get("payment_transaction") if isinstance(response.get("payment_transaction"), dict) else {}
    return response["result"], transaction


def reason_of(answer: dict) -> str:
    return clean_text((answer.get("payment_transaction_response") or {}).get("result_reason") or "", limit=100)


def named_request(message: InboundMessage) -> str:
    """A payment request id the return carries (query or form field), if any: it must be the attempt's."""
    named = message.params.get("payment_request_id") if message.params else None
    return clean_text(named, limit=128) if isinstance(named, str) else ""


def envelope(body: bytes) -> dict:
    """A Klarna v2 webhook: {metadata: {event_id, event_type, ...}, payload: {...}}."""
    envelope = load_json_object(body, what="webhook body")
    metadata, payload = envelope.get("metadata"), envelope.get("payload")
    if not isinstance(metadata, dict) or not isinstance(payload, dict):
        raise InvalidReturn("webhook body is not a Klarna v2 envelope")
    event_id, event_type = metadata.get("event_id"), metadata.get("event_type")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or not event_id or not event_type:
        raise InvalidReturn("webhook metadata lacks event_id or event_type")
    return {"metadata": {"event_id": clean_text(event_id, limit=64), "event_type": clean_text(event_type, limit=64)},
            "payload": payload}
