"""Log records that are evidence, not a liability: one record per line, no credentials in them.

Two things reach the log from outside: text an attacker chose (a return POST's order number, a webhook's
event id, a request path) and our own signed links. So:

- Escaping. A newline in logged input must not start a line that reads like a record of its own
  ("log forging"). The plain format escapes every control character of the message, so a record starts
  every line at column 0; a traceback keeps its lines for readability but each one is prefixed with
  CONTINUATION, so a forged "2099-01-01 ... ERROR" inside an exception message still cannot pass for a
  record. LOG_FORMAT=json writes one JSON object per line instead (json.dumps escapes the same characters).
- Masking. The token in /orders/<token>/, /subscriptions/<token>/ and /payments/{return,widget,notify}/
  <route>/<token>/ is the credential that opens an order or binds a provider's return to our attempt; Django
  logs the full path of every 4xx and 5xx. A token is the signed value, a colon, then the signature: the
  value (an order number, a base64 reference) stays for correlation, the signature is masked. Klarna
  authorization and customer tokens (in provider request paths, or as `authorization_token` fields) are
  masked whole: each one lets its holder place an order.

The filter masks the message of every record a handler emits; the formatters mask exception text too,
because a provider error's traceback can quote the URL it failed on.
"""
import json
import logging
import re
from datetime import datetime, timezone

MASK = "***"
CONTINUATION = "  | "

# Our signed links: "<prefix>/<value>:<signature...>". Tokens always hold a colon (django.core.signing);
# a segment without one is not a working link (and not a provider id such as 29 Next's /orders/10023/).
_SIGNED_LINK = re.compile(
    r"(?P<prefix>/(?:payments/(?:return|widget|notify)/[^/\s?#]+|orders|subscriptions)/)"
    r"(?P<value>[^/\s?#:%]*)(?::|%3[aA])[^/\s?#]*")
# Klarna tokens in provider API paths: /payments/v1/authorizations/{token}[/...], /customer-token/v1/tokens/{t}.
_PROVIDER_TOKEN_PATH = re.compile(r"(?P<prefix>authorizations/|customer-token/v1/tokens/)[^/\s?#\"']+")
# ...and as named fields in a repr, a form dump or a query string.
_TOKEN_FIELD = re.compile(
    r"(?P<prefix>\b(?:authorization_token|customer_token|client_token)[\"']?\s*[:=]\s*[\"']?)[^\"'\s,&;)}]+")

# C0 and C1 controls, DEL and the Unicode line/paragraph separators: anything a terminal or a log
# shipper may treat as a line break or an escape sequence.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def redact(text: str) -> str:
    """`text` with the signatures of our links and every Klarna token replaced by MASK."""
    text = _SIGNED_LINK.sub(lambda m: f"{m['prefix']}{m['value']}:{MASK}", text)
    text = _PROVIDER_TOKEN_PATH.sub(lambda m: m["prefix"] + MASK, text)
    return _TOKEN_FIELD.sub(lambda m: m["prefix"] + MASK, text)


def escape_controls(text: str) -> str:
    """`text` on one line: control characters as \\n, \\r, \\t, \\xNN or \\uNNNN."""
    def one(match):
        char = match.group()
        if char in _NAMED:
            return _NAMED[char]
        return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"
    return _CONTROL.sub(one, text)


class RedactFilter(logging.Filter):
    """Masks tokens in each record's message, whatever formatter the handler uses.

    The message is rendered once here (msg % args) and stored back, so later handlers and formatters
    only ever see the masked text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class LineFormatter(logging.Formatter):
    """The plain format, one record per line: the message escaped, extra lines marked as continuations."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(redact(record.message))
        return super().formatMessage(record)

    def formatException(self, exc_info) -> str:
        return self._continuation(super().formatException(exc_info))

    def formatStack(self, stack_info: str) -> str:
        return self._continuation(super().formatStack(stack_info))

    @staticmethod
    def _continuation(text: str) -> str:
        lines = redact(text).split("\n")
        return "\n".join(CONTINUATION + escape_controls(line) for line in lines)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json), for log shippers that index fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        status = getattr(record, "status_code", None)
        if status is not None:  # django.request and django.server records carry the response status
            entry["status"] = status
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, default=str)  # ensure_ascii: every control character leaves escaped


FORMATTERS = {"plain": "config.logging.LineFormatter", "json": "config.logging.JsonFormatter"}


def logging_config(*, level: str = "INFO", fmt: str = "plain") -> dict:
    """The LOGGING setting: everything through one console handler that masks and escapes.

    Django's own handlers are replaced, not kept beside it: its "console" handler (DEBUG only) and its
    django.server handler (runserver's request lines) would print the same paths unmasked. django.server
    keeps WARNING so successful requests stay quiet.
    """
    if fmt not in FORMATTERS:
        raise ValueError(f"LOG_FORMAT must be one of {sorted(FORMATTERS)}, not {fmt!r}")
    line = "%(asctime)s %(levelname)s %(name)s %(message)s"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "config.logging.RedactFilter"}},
        "formatters": {"shop": {"class": FORMATTERS[fmt], "format": line}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "shop", "filters": ["redact"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        },
    }
