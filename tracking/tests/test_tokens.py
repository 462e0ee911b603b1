"""Tracking tokens: short, absolute, bound to one purpose, and impossible to bend."""

import base64
import random
import string

import pytest

from tracking import tokens

ALPHABET = string.ascii_letters + string.digits + "-_"
MAKERS = {
    tokens.OPEN: lambda: tokens.open_url(delivery_id=123_456_789),
    tokens.CLICK: lambda: tokens.click_url(delivery_id=123_456_789, link_id=42),
    tokens.HONEYPOT: lambda: tokens.honeypot_url(delivery_id=123_456_789),
    tokens.ANONYMOUS_OPEN: lambda: tokens.anonymous_open_url(campaign_id=7),
    tokens.ANONYMOUS_CLICK: lambda: tokens.anonymous_click_url(link_id=42),
    tokens.ANONYMOUS_HONEYPOT: lambda: tokens.anonymous_honeypot_url(campaign_id=7),
}
VERIFIERS = {
    tokens.OPEN: tokens.verify_open,
    tokens.CLICK: tokens.verify_click,
    tokens.HONEYPOT: tokens.verify_honeypot,
    tokens.ANONYMOUS_OPEN: tokens.verify_anonymous_open,
    tokens.ANONYMOUS_CLICK: tokens.verify_anonymous_click,
    tokens.ANONYMOUS_HONEYPOT: tokens.verify_anonymous_honeypot,
}
EXPECTED = {
    tokens.OPEN: 123_456_789,
    tokens.CLICK: (123_456_789, 42),
    tokens.HONEYPOT: 123_456_789,
    tokens.ANONYMOUS_OPEN: 7,
    tokens.ANONYMOUS_CLICK: 42,
    tokens.ANONYMOUS_HONEYPOT: 7,
}


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def accepted_by(token: str) -> list[str]:
    return [purpose for purpose, verify in VERIFIERS.items() if verify(token) is not None]


@pytest.mark.parametrize("purpose", list(MAKERS))
def test_every_token_reads_back_to_its_ids_and_only_for_its_own_purpose(purpose):
    token = token_of(MAKERS[purpose]())
    assert VERIFIERS[purpose](token) == EXPECTED[purpose]
    assert accepted_by(token) == [purpose], "a token made for one purpose never passes as another"


def test_urls_are_absolute_and_tokens_short(settings):
    settings.SITE_URL = "https://news.example.com"
    open_url = tokens.open_url(delivery_id=2**40)
    click_url = tokens.click_url(delivery_id=2**40, link_id=2**40)
    assert open_url.startswith("https://news.example.com/t/o/")
    assert click_url.startswith("https://news.example.com/t/c/")
    assert len(token_of(open_url)) == 24
    assert len(token_of(click_url)) == 32
    assert set(token_of(click_url)) <= set(ALPHABET), "URL-safe without escaping or padding"


def test_the_same_ids_always_give_the_same_token():
    assert tokens.click_url(delivery_id=5, link_id=6) == tokens.click_url(delivery_id=5, link_id=6)
    assert tokens.click_url(delivery_id=5, link_id=6) != tokens.click_url(delivery_id=6, link_id=5)


@pytest.mark.parametrize("purpose", list(MAKERS))
def test_every_single_bit_flip_is_rejected(purpose):
    token = token_of(MAKERS[purpose]())
    raw = bytearray(base64.urlsafe_b64decode(token))
    for index in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[index] ^= 1 << bit
            forged = base64.urlsafe_b64encode(bytes(flipped)).decode()
            assert accepted_by(forged) == [], (index, bit)


@pytest.mark.parametrize("purpose", list(MAKERS))
def test_changed_truncated_extended_or_re_encoded_tokens_are_rejected(purpose):
    token = token_of(MAKERS[purpose]())
    variants = [token[:-1], token[1:], token + "A", token + "=", token[:-2] + "==", "", token.upper(), token.lower()]
    variants += [token[:index] + ("A" if char != "A" else "B") + token[index + 1 :] for index, char in enumerate(token)]
    # The standard base64 alphabet for the same bytes, and stray characters.
    variants += [token.replace("-", "+").replace("_", "/") if ("-" in token or "_" in token) else token + "+"]
    variants += [token[:10] + "." + token[11:], token[:10] + "%" + token[11:], token[:10] + "ä" + token[11:]]
    for variant in variants:
        if variant != token:
            assert accepted_by(variant) == [], variant


def test_random_tokens_never_verify():
    generator = random.Random(4)
    for _attempt in range(3000):
        length = generator.choice([24, 32, generator.randint(0, 64)])
        candidate = "".join(generator.choice(ALPHABET) for _ in range(length))
        assert accepted_by(candidate) == []
    for _attempt in range(300):
        candidate = bytes(generator.randrange(256) for _ in range(generator.randint(0, 48))).decode("latin-1")
        assert accepted_by(candidate) == []


def test_tokens_from_another_installation_are_rejected(settings):
    token = token_of(tokens.click_url(delivery_id=1, link_id=2))
    settings.SECRET_KEY = "another installation's secret key, long enough to be a real one"
    assert tokens.verify_click(token) is None


def test_rotated_secret_key_still_accepts_links_in_mails_already_sent(settings):
    old_key = settings.SECRET_KEY
    token = token_of(tokens.click_url(delivery_id=1, link_id=2))
    settings.SECRET_KEY = "the new secret key after rotation, long and random enough for this"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert tokens.verify_click(token) == (1, 2)
    assert token_of(tokens.click_url(delivery_id=1, link_id=2)) != token, "new links use the new key"


@pytest.mark.parametrize("bad_id", [0, -1, 2**48])
def test_ids_outside_48_bits_are_refused_when_signing(bad_id):
    with pytest.raises(ValueError):
        tokens.open_url(delivery_id=bad_id)


def test_address_hash_is_keyed_short_and_stable():
    assert tokens.ip_hash("203.0.113.7") == tokens.ip_hash("203.0.113.7")
    assert tokens.ip_hash("203.0.113.7") != tokens.ip_hash("203.0.113.8")
    assert len(tokens.ip_hash("2001:db8::1")) == 16
    assert "203" not in tokens.ip_hash("203.0.113.7")
    assert tokens.ip_hash("") == ""


def test_click_urls_for_a_whole_message_are_the_single_click_urls():
    from tracking import tokens

    link_ids = [1, 7, 2**40, 123456]
    assert tokens.click_urls(delivery_id=99, link_ids=link_ids) == [
        tokens.click_url(delivery_id=99, link_id=link_id) for link_id in link_ids
    ]
