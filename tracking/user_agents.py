"""Device, operating system and mail client of an open or click, from its user agent (ua-parser).

The batcher calls ``describe`` when it counts events and adds them to ``ClientStats``, so the
campaign page never parses anything. ua-parser's pure-Python matching costs about half a
millisecond per string; mail clients send few distinct strings, so a process-wide cache keeps
counting fast. The names are ua-parser's, except for the few image proxies and mail apps that
it names after the engine: those get the name a reader knows.
"""

from functools import lru_cache
from typing import NamedTuple

from ua_parser import parse

DESKTOP, MOBILE, TABLET, UNKNOWN = "desktop", "mobile", "tablet", "unknown"
DEVICES = (DESKTOP, MOBILE, TABLET, UNKNOWN)
OTHER = "Other"
MAX_NAME = 50

# ua-parser family → the name staff recognise.
CLIENT_NAMES = {
    "GmailImageProxy": "Gmail",
    "YahooMailProxy": "Yahoo Mail",
    "Mobile Safari UI/WKWebView": "Apple Mail (iOS)",
    "Outlook": "Outlook",
}
MOBILE_OS = {"iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS", "HarmonyOS"}
DESKTOP_OS = {"Windows", "Mac OS X", "Linux", "Ubuntu", "Fedora", "Chrome OS", "FreeBSD", "Debian"}
TABLET_FAMILIES = ("iPad", "Tablet", "Kindle", "Galaxy Tab")


class Client(NamedTuple):
    device: str
    os: str
    client: str


def _device(device_family: str, os_family: str, agent: str) -> str:
    if any(name in device_family for name in TABLET_FAMILIES) or "Tablet" in agent:
        return TABLET
    if os_family == "Android" and "Mobile" not in agent:
        return TABLET
    if os_family in MOBILE_OS:
        return MOBILE
    if os_family in DESKTOP_OS or device_family == "Mac":
        return DESKTOP
    return UNKNOWN


@lru_cache(maxsize=4096)
def describe(user_agent: str) -> Client:
    """(device, os, client) for a user agent; "unknown" and "Other" where it says too little."""
    agent = user_agent.strip()
    if not agent:
        return Client(UNKNOWN, OTHER, OTHER)
    result = parse(agent)
    client = result.user_agent.family if result.user_agent else OTHER
    os_family = result.os.family if result.os else OTHER
    device_family = result.device.family if result.device else ""
    device = UNKNOWN if device_family == "Spider" else _device(device_family, os_family, agent)
    return Client(device, os_family[:MAX_NAME], CLIENT_NAMES.get(client, client)[:MAX_NAME])
