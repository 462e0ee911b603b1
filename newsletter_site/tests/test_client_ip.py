"""The client's address behind reverse proxies: one rule for rate limits, consent records and tracking."""

import pytest
from django.test import RequestFactory

PROXY = "10.0.0.5"


def client_ip_of(settings, *, trusted, remote_addr, forwarded=None):
    from newsletter_site.client_ip import client_ip

    settings.KANAL_TRUSTED_PROXIES = trusted
    headers = {} if forwarded is None else {"HTTP_X_FORWARDED_FOR": forwarded}
    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)
    return client_ip(request)


@pytest.mark.parametrize(
    ("trusted", "remote_addr", "forwarded", "expected"),
    [
        # Without trusted proxies the header is whatever the visitor typed.
        ([], "203.0.113.7", "198.51.100.1", "203.0.113.7"),
        # A peer that is not a trusted proxy cannot speak for anyone else.
        (["10.0.0.0/8"], "203.0.113.7", "198.51.100.1", "203.0.113.7"),
        (["10.0.0.0/8"], PROXY, "198.51.100.1", "198.51.100.1"),
        # A visitor's own X-Forwarded-For is the left part of the chain: the proxy appends the real peer.
        (["10.0.0.0/8"], PROXY, "1.2.3.4, 198.51.100.1", "198.51.100.1"),
        # Two proxies of ours: the right-most address that is not one of them.
        (["10.0.0.0/8", "192.168.1.1"], PROXY, "1.2.3.4, 198.51.100.1, 192.168.1.1", "198.51.100.1"),
        (["10.0.0.0/8"], PROXY, "198.51.100.1,10.0.0.9 ,10.0.0.7", "198.51.100.1"),
        # A trusted proxy that sent no header: the proxy is the only address known.
        (["10.0.0.0/8"], PROXY, None, PROXY),
        # Garbage in the chain stops the walk at the last address a trusted proxy vouched for.
        (["10.0.0.0/8"], PROXY, "198.51.100.1, not-an-ip, 10.0.0.9", "10.0.0.9"),
        # IPv6, with and without brackets, and IPv4 mapped into IPv6.
        (["fd00::/8"], "fd00::1", "2001:db8::7", "2001:db8::7"),
        (["fd00::/8"], "fd00::1", "2001:db8::1, [2001:db8::8]", "2001:db8::8"),
        (["10.0.0.0/8"], "::ffff:10.0.0.5", "198.51.100.1", "198.51.100.1"),
        (["10.0.0.0/8"], PROXY, "198.51.100.1:4711", "198.51.100.1"),
        # A unix-socket peer (gunicorn --bind unix:…) has no address; trusted only when named.
        ([], "", "198.51.100.1", None),
        (["unix"], "", "198.51.100.1", "198.51.100.1"),
        (["unix"], "", "198.51.100.1, 10.0.0.2", "10.0.0.2"),
    ],
)
def test_client_ip_rule(settings, trusted, remote_addr, forwarded, expected):
    assert client_ip_of(settings, trusted=trusted, remote_addr=remote_addr, forwarded=forwarded) == expected
