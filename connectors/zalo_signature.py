"""Zalo OA webhook signatures (``X-ZEvent-Signature``).

The value is the hex SHA-256 of app_id + raw request body + timestamp (the body's ``timestamp`` field)
+ the OA secret key: a plain hash of the concatenation, not an HMAC. The raw bytes are hashed exactly as
received (never re-serialised JSON) and compared in constant time. The header may carry a ``mac=`` prefix.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-ZEvent-Signature"


def compute_signature(app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> str:
    """Hex SHA-256 of app_id + body + timestamp + OA secret key (what Zalo sends)."""
    digest = hashlib.sha256()
    digest.update(app_id.encode("utf-8"))
    digest.update(body)
    digest.update(timestamp.encode("utf-8"))
    digest.update(oa_secret_key.encode("utf-8"))
    return digest.hexdigest()


def signature_from_header(value: str | None) -> str:
    """The hex signature of a header value (``mac=`` prefix removed, lower case); "" when absent."""
    value = (value or "").strip()
    if value[:4].lower() == "mac=":
        value = value[4:].strip()
    return value.lower()


def verify_signature(header: str | None, app_id: str, body: bytes, timestamp: str, oa_secret_key: str) -> bool:
    """True when ``header`` is the signature of ``body``; constant-time, False for a missing header."""
    given = signature_from_header(header)
    if not given or not app_id or not oa_secret_key:
        return False
    expected = compute_signature(app_id, body, timestamp, oa_secret_key)
    return hmac.compare_digest(given.encode("ascii", "replace"), expected.encode("ascii"))
