"""Where each share link leads: the networks' own share pages, given the page to share."""

from urllib.parse import quote, urlencode

from sharing.models import Network


def network_url(network: str, *, url: str, title: str) -> str:
    """The network's share page (or a ``mailto:``) for ``url``, with ``title`` where it takes one."""
    if network == Network.MAIL:
        return "mailto:?" + urlencode({"subject": title, "body": f"{title}\n\n{url}"}, quote_via=quote)
    if network == Network.LINKEDIN:
        return "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url})
    if network == Network.X:
        return "https://x.com/intent/post?" + urlencode({"url": url, "text": title})
    if network == Network.WHATSAPP:
        return "https://wa.me/?" + urlencode({"text": f"{title} {url}"})
    raise ValueError(f"Unknown network {network!r}.")


def with_parameter(url: str, name: str, value: str) -> str:
    return url + ("&" if "?" in url else "?") + urlencode({name: value})
