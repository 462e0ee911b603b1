"""The scopes an API key may hold. Apps that offer an endpoint register its scope in their
``AppConfig.ready()`` (``register("offers:redeem", _("Report coupon redemptions"))``); the key
form offers exactly these, and a key holding one scope can do only that one thing."""

SCOPES: dict[str, object] = {}
"""Scope name -> its label (lazy translated text)."""


def register(name: str, label) -> None:
    SCOPES[name] = label


def choices() -> list[tuple[str, object]]:
    return sorted(SCOPES.items())
