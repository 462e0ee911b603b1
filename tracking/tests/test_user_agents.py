"""Devices and mail clients from user agents (ua-parser), named the way staff know them."""

import pytest

from tracking.user_agents import describe

IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
)
IPAD_MAIL = "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"
MAC_MAIL = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1"


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (IPHONE_MAIL, ("mobile", "iOS", "Apple Mail (iOS)")),
        (IPAD_MAIL, ("tablet", "iOS", "Apple Mail (iOS)")),
        (OUTLOOK, ("desktop", "Windows", "Outlook")),
        (MAC_MAIL, ("desktop", "Mac OS X", "Apple Mail")),
        (ANDROID_CHROME, ("mobile", "Android", "Chrome")),
        (GMAIL_PROXY, ("desktop", "Windows", "Gmail")),
        (THUNDERBIRD, ("desktop", "Linux", "Thunderbird")),
        ("Mozilla/5.0", ("unknown", "Other", "Other")),
        ("", ("unknown", "Other", "Other")),
        ("<script>alert(1)</script>", ("unknown", "Other", "Other")),
    ],
)
def test_device_system_and_client_of_common_mail_agents(agent, expected):
    assert tuple(describe(agent)) == expected


def test_names_fit_their_columns():
    device, os_family, client = describe("X" * 300 + "/1.0 " + "Y" * 300)
    assert len(os_family) <= 50 and len(client) <= 50 and device
