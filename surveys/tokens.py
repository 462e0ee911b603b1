"""Compact signed tokens for one-click answers in mails: survey buttons and article feedback.

newsletter_site.signed_ids tokens, like ``tracking.tokens`` (48-bit ids, a 96-bit HMAC-SHA256),
with their own keys under ``kanal.surveys``, so a token made for one purpose passes neither as
another purpose nor as a tracking token, and the other way round:

=========  =====================================  =====  ==================
purpose    ids                                    chars  URL
=========  =====================================  =====  ==================
answer     delivery, question, answer value       40     ``/s/a/<token>``
open       delivery, survey                       32     ``/s/o/<token>``
feedback   delivery, article, useful (1) / no (0) 40     ``/s/f/<token>``
preview    what, question/survey/article, value   40     ``/s/p/<token>``
=========  =====================================  =====  ==================

The answer value is the score (NPS 0–10, rating 1–5) or the choice id. Only the last id of a
token may be 0. Preview tokens name no delivery: test mails, the admin preview and the public
archive page carry them, and they open a page that shows the survey but never stores an answer.

The sender signs about twenty of these per message (eleven NPS buttons, two per article), through
one ``DeliverySigner`` per batch (``signer``). SECRET_KEY_FALLBACKS still verify.
"""

from django.conf import settings

from newsletter_site.signed_ids import DeliverySigner, SignedIds

PREFIX = "/s/"

ANSWER = "answer"
OPEN = "open"
FEEDBACK = "feedback"
PREVIEW = "preview"
PURPOSES = (ANSWER, OPEN, FEEDBACK, PREVIEW)
PATHS = {ANSWER: PREFIX + "a/", OPEN: PREFIX + "o/", FEEDBACK: PREFIX + "f/", PREVIEW: PREFIX + "p/"}
IDS_PER_TOKEN = {ANSWER: 3, OPEN: 2, FEEDBACK: 3, PREVIEW: 3}

# What a preview token shows (its first id).
PREVIEW_ANSWER, PREVIEW_OPEN, PREVIEW_FEEDBACK = 1, 2, 3

_signed = SignedIds("kanal.surveys", IDS_PER_TOKEN, last_id_may_be_zero=True)


def make_token(purpose: str, *ids: int) -> str:
    return _signed.make(purpose, *ids)


def read_token(token: str, purpose: str) -> tuple[int, ...] | None:
    """The ids in ``token`` if it was signed for ``purpose``, else None. Never raises on input."""
    return _signed.read(token, purpose)


def url(purpose: str, *ids: int) -> str:
    return settings.SITE_URL + PATHS[purpose] + make_token(purpose, *ids)


def signer(purpose: str, tails: list[tuple[int, ...]]) -> DeliverySigner:
    """URLs of ``purpose`` for many deliveries: ``signer(...).urls(delivery_id)``, one per tail."""
    return _signed.signer(purpose, tails, base=settings.SITE_URL + PATHS[purpose])


def answer_url(*, delivery_id: int, question_id: int, value: int) -> str:
    return url(ANSWER, delivery_id, question_id, value)


def open_url(*, delivery_id: int, survey_id: int) -> str:
    return url(OPEN, delivery_id, survey_id)


def feedback_url(*, delivery_id: int, article_id: int, useful: bool) -> str:
    return url(FEEDBACK, delivery_id, article_id, int(bool(useful)))


def preview_url(what: int, object_id: int, value: int = 0) -> str:
    return url(PREVIEW, what, object_id, value)


def verify_answer(token: str) -> tuple[int, int, int] | None:
    """(delivery id, question id, answer value) of an answer token, or None."""
    return read_token(token, ANSWER)


def verify_open(token: str) -> tuple[int, int] | None:
    """(delivery id, survey id) of an open-survey token, or None."""
    ids = read_token(token, OPEN)
    return ids if ids and ids[1] else None


def verify_feedback(token: str) -> tuple[int, int, bool] | None:
    """(delivery id, article id, useful) of a feedback token, or None."""
    ids = read_token(token, FEEDBACK)
    if ids is None or ids[2] not in (0, 1):
        return None
    return ids[0], ids[1], bool(ids[2])


def verify_preview(token: str) -> tuple[int, int, int] | None:
    """(what, object id, value) of a preview token, or None."""
    ids = read_token(token, PREVIEW)
    if ids is None or ids[0] not in (PREVIEW_ANSWER, PREVIEW_OPEN, PREVIEW_FEEDBACK):
        return None
    return ids
