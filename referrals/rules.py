"""The fraud rules of the referral programme, each a small pure function; services apply them."""

from functools import lru_cache

GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def address_family(email: str) -> str:
    """The address with what mail providers ignore taken out: ``a.b+news@googlemail.com`` and
    ``ab@gmail.com`` are one mailbox. Plus-addressing is dropped for every domain."""
    local, _at, domain = (email or "").strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


@lru_cache(maxsize=1)
def _disposable_domains() -> frozenset[str]:
    # The maintained list from PyPI (disposable-email-domains), loaded on first use.
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


def is_disposable(email: str) -> bool:
    """Whether the address's domain, or a domain above it, is a known throwaway domain."""
    domain = (email or "").rpartition("@")[2].strip().lower().rstrip(".")
    parts = domain.split(".")
    blocked = _disposable_domains()
    return any(".".join(parts[index:]) in blocked for index in range(len(parts) - 1))
