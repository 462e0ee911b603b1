"""One-click answer tokens: short, bound to one purpose and delivery, impossible to bend."""

import base64

import pytest

from surveys import tokens
from tracking import tokens as tracking_tokens

MAKERS = {
    tokens.ANSWER: lambda: tokens.answer_url(delivery_id=123_456_789, question_id=42, value=0),
    tokens.OPEN: lambda: tokens.open_url(delivery_id=123_456_789, survey_id=7),
    tokens.FEEDBACK: lambda: tokens.feedback_url(delivery_id=123_456_789, article_id=9, useful=True),
    tokens.PREVIEW: lambda: tokens.preview_url(tokens.PREVIEW_ANSWER, 42, 10),
}
VERIFIERS = {
    tokens.ANSWER: tokens.verify_answer,
    tokens.OPEN: tokens.verify_open,
    tokens.FEEDBACK: tokens.verify_feedback,
    tokens.PREVIEW: tokens.verify_preview,
}
EXPECTED = {
    tokens.ANSWER: (123_456_789, 42, 0),
    tokens.OPEN: (123_456_789, 7),
    tokens.FEEDBACK: (123_456_789, 9, True),
    tokens.PREVIEW: (tokens.PREVIEW_ANSWER, 42, 10),
}
TRACKING_VERIFIERS = [
    tracking_tokens.verify_open,
    tracking_tokens.verify_click,
    tracking_tokens.verify_honeypot,
    tracking_tokens.verify_anonymous_open,
    tracking_tokens.verify_anonymous_click,
    tracking_tokens.verify_anonymous_honeypot,
]


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def accepted_by(token: str) -> list[str]:
    return [purpose for purpose, verify in VERIFIERS.items() if verify(token) is not None]


@pytest.mark.parametrize("purpose", list(MAKERS))
def test_every_token_reads_back_and_only_for_its_own_purpose(purpose, settings):
    url = MAKERS[purpose]()
    assert url.startswith(settings.SITE_URL + tokens.PATHS[purpose])
    token = token_of(url)
    assert len(token) == (32 if purpose == tokens.OPEN else 40)
    assert VERIFIERS[purpose](token) == EXPECTED[purpose]
    assert accepted_by(token) == [purpose], "a token made for one purpose never passes as another"
    assert not any(verify(token) for verify in TRACKING_VERIFIERS), "nor as a tracking token"


def test_tracking_tokens_do_not_pass_as_answer_tokens():
    click = token_of(tracking_tokens.click_url(delivery_id=5, link_id=6))
    assert accepted_by(click) == []
    # Same layout and length as an open-survey token, a different key.
    assert tokens.verify_open(click) is None


@pytest.mark.parametrize("position", range(40))
def test_changing_any_character_breaks_the_token(position):
    token = token_of(tokens.answer_url(delivery_id=99, question_id=3, value=9))
    changed = token[:position] + ("A" if token[position] != "A" else "B") + token[position + 1 :]
    assert tokens.verify_answer(changed) is None


def test_an_answer_cannot_be_swapped_for_another_with_the_same_signature():
    raw = bytearray(base64.urlsafe_b64decode(token_of(tokens.answer_url(delivery_id=99, question_id=3, value=9))))
    raw[17] = 10  # the last byte of the answer value: 9 → 10
    assert tokens.verify_answer(base64.urlsafe_b64encode(bytes(raw)).decode()) is None


@pytest.mark.parametrize("junk", ["", "abc", "A" * 40, "!" * 40, "A" * 39 + "=", None, 12, "Ä" * 40])
def test_junk_is_rejected_without_raising(junk):
    for verify in VERIFIERS.values():
        assert verify(junk) is None


def test_delivery_signer_makes_the_same_urls_as_the_single_functions():
    signer = tokens.signer(tokens.ANSWER, [(3, value) for value in range(11)])
    assert signer.urls(77) == [tokens.answer_url(delivery_id=77, question_id=3, value=value) for value in range(11)]
    feedback = tokens.signer(tokens.FEEDBACK, [(5, 1), (5, 0)])
    assert feedback.urls(77) == [
        tokens.feedback_url(delivery_id=77, article_id=5, useful=True),
        tokens.feedback_url(delivery_id=77, article_id=5, useful=False),
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda: tokens.answer_url(delivery_id=0, question_id=3, value=1),
        lambda: tokens.answer_url(delivery_id=1, question_id=0, value=1),
        lambda: tokens.answer_url(delivery_id=1, question_id=3, value=-1),
        lambda: tokens.answer_url(delivery_id=1 << 48, question_id=3, value=1),
        lambda: tokens.signer(tokens.ANSWER, [(3,)]),
        lambda: tokens.signer(tokens.ANSWER, [(3, 1)]).urls(0),
    ],
)
def test_ids_out_of_range_are_refused_when_signing(call):
    with pytest.raises(ValueError):
        call()


def test_feedback_tokens_carry_only_yes_or_no():
    forged_value = tokens.make_token(tokens.FEEDBACK, 1, 2, 7)  # signed, but not a yes/no
    assert tokens.verify_feedback(forged_value) is None


def test_links_in_sent_mails_survive_a_key_rotation(settings):
    token = token_of(tokens.answer_url(delivery_id=5, question_id=3, value=8))
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a brand new secret key that is long enough to be taken seriously"
    assert tokens.verify_answer(token) == (5, 3, 8)
    settings.SECRET_KEY_FALLBACKS = []
    assert tokens.verify_answer(token) is None
