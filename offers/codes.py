"""Coupon codes people type: Crockford's base32 alphabet (no I, L, O, U: nothing to mistake for
1 or 0) and an optional check character (Luhn mod 32) that catches every single wrong character
and most swapped neighbours. Nothing here touches the database."""

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PLACEHOLDER = "X"
MAX_PATTERN_LENGTH = 48
_VALUE = {char: index for index, char in enumerate(ALPHABET)}


class PatternError(ValueError):
    """The pattern cannot make codes (the message is for staff, already translated by the caller)."""


def random_places(pattern: str) -> int:
    return pattern.count(PLACEHOLDER)


def check_character(payload: str) -> str:
    """Luhn mod N over the Crockford values of ``payload``'s alphabet characters (others skipped)."""
    total, double = 0, True
    for char in reversed(payload):
        if char not in _VALUE:
            continue
        value = _VALUE[char]
        if double:
            value *= 2
            value = value // 32 + value % 32
        total += value
        double = not double
    return ALPHABET[(32 - total % 32) % 32]


def is_valid_check(code: str) -> bool:
    """Whether the last character of ``code`` is the check character of the rest."""
    return len(code) > 1 and check_character(code[:-1]) == code[-1]


def make_codes(pattern: str, count: int, *, check: bool = False) -> list[str]:
    """``count`` random codes of ``pattern`` (each ``X`` a random character), distinct from each
    other; the database decides whether they are new to the pool."""
    places = [index for index, char in enumerate(pattern) if char == PLACEHOLDER]
    parts = list(pattern)
    width = len(places)
    codes: set[str] = set()
    while len(codes) < count:
        # 256 is a multiple of 32: the low five bits of a random byte are an unbiased character.
        randomness = secrets.token_bytes(width * (count - len(codes)))
        for start in range(0, len(randomness), width):
            for index, byte in zip(places, randomness[start : start + width], strict=True):
                parts[index] = ALPHABET[byte & 31]
            code = "".join(parts)
            codes.add(code + check_character(code) if check else code)
    return list(codes)
