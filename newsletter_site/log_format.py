"""JSON log lines (``KANAL_LOG_FORMAT=json``): one object per line, with the ``extra=`` fields of
the call (``campaign_id``, ``delivery_id``) as keys.

Kanal's own log calls name rows by id, never by address or token. Third-party lines are not that
careful (Django's "Not Found: /confirm/<token>/", an SMTP refusal quoting the recipient), so each
line also has e-mail addresses and token-like path segments masked before it is written.
"""

import logging
import re
from datetime import UTC, datetime

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

ADDRESS = re.compile(r"[^\s@<>\"'\\/:;,()\[\]]+@[^\s@<>\"'\\/:;,()\[\]]+\.[A-Za-z]{2,}")
# A path or query segment of a URL: signed tokens are base64url, with a ":" in Django's signer.
URL_SEGMENT = re.compile(r"(?<=[/=])[A-Za-z0-9_\-:.~]{16,}")
ADDRESS_MASK = "[address]"
TOKEN_MASK = "[token]"  # noqa: S105 (the mask, not a secret)


def _token_like(segment: str) -> bool:
    # File names in tracebacks are lower case without digits; random base64 has both cases or digits.
    return any(char.isdigit() for char in segment) or (
        any(char.isupper() for char in segment) and any(char.islower() for char in segment)
    )


def redact(text: str) -> str:
    """``text`` with e-mail addresses and token-like URL segments masked."""
    text = ADDRESS.sub(ADDRESS_MASK, text)
    return URL_SEGMENT.sub(lambda match: TOKEN_MASK if _token_like(match.group()) else match.group(), text)


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter with Kanal's field names, masking (``redact``), and without the
    request object Django attaches to its request lines (its text is the full path)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, "request"])
        super().__init__(*args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # UTC in ISO 8601: Django sets the process's local time zone (TIME_ZONE), gunicorn's master
        # and a worker before Django starts do not, and lines of one host must sort as one.
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def format(self, record: logging.LogRecord) -> str:
        # Masking the serialised line covers every field; the patterns never span a quote or a
        # backslash, so the JSON stays valid.
        return redact(super().format(record))
