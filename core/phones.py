"""Vietnamese phone numbers: validation, E.164 storage, the last-4-digits verification factor."""

from __future__ import annotations

import hmac
import re

import phonenumbers


class InvalidPhone(ValueError):
    """Not a valid Vietnamese phone number; ``str(exc)`` is a sentence a citizen can read."""


def normalize_vn_phone(raw: str) -> str:
    """``"0912 345 678"``, ``"+84 912345678"``, ``"84912345678"`` → ``"+84912345678"``.

    Raises InvalidPhone for anything the phonenumbers library does not accept as a Vietnamese number."""
    text = (raw or "").strip()
    digits = re.sub(r"[^\d+]", "", text)
    if digits.startswith("84") and len(digits) >= 11:
        digits = "+" + digits
    try:
        number = phonenumbers.parse(digits or text, "VN")
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(f"Số điện thoại “{text}” không hợp lệ.") from exc
    if number.country_code != 84 or not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"Số điện thoại “{text}” không phải số điện thoại Việt Nam hợp lệ.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_last4(raw: str) -> str | None:
    """The 4 digits a citizen typed ("5 6 7 8", "5678"), or None when it is not exactly 4 digits."""
    digits = re.sub(r"\D", "", raw or "")
    return digits if len(digits) == 4 else None


def last4_matches(phone: str | None, typed: str) -> bool:
    """Whether ``typed`` is the last 4 digits of ``phone`` (constant-time comparison)."""
    expected = re.sub(r"\D", "", phone or "")[-4:]
    given = clean_last4(typed) or ""
    return len(expected) == 4 and hmac.compare_digest(expected, given)
