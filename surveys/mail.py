"""One-click answers inside a campaign mail: the survey block and the "was this useful?" links.

``survey_block_for`` reads what the mail shows once per campaign (``compile_campaign`` calls it);
``AnswerLinks`` signs the URLs per delivery (the sender builds one per batch). Without a
delivery — previews, test sends, the public archive page — the mail carries preview links that
open the survey but never store anything (``preview_survey_urls``, ``preview_feedback_urls``).
"""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from newsletter_site.signed_ids import DeliverySigner
from surveys import selectors, tokens
from surveys.models import Question

SCALE, CHOICES, OPEN = "scale", "choices", "open"


@dataclass(frozen=True, slots=True)
class SurveyButton:
    label: str
    value: int  # the score or the choice id; 0 for the single "answer the survey" button


@dataclass(frozen=True, slots=True)
class MailSurveyBlock:
    """The first question of a campaign's survey as the mail shows it.

    ``kind`` is ``scale`` (NPS or rating: a row of small cells), ``choices`` (single choice: one
    button per option) or ``open`` (multiple choice, free text, or a choice question without
    options: one button that opens the survey).
    """

    survey_id: int
    question_id: int
    title: str
    question: str
    kind: str
    buttons: tuple[SurveyButton, ...]
    low_hint: str = ""
    high_hint: str = ""


def survey_block_for(campaign) -> MailSurveyBlock | None:
    """The block for the survey attached to ``campaign``, or None. Labels in the active language."""
    survey = selectors.campaign_mail_survey(campaign_id=campaign.pk)
    if survey is None:
        return None
    question = survey.questions.prefetch_related("choices").first()
    if question is None:
        return None
    common = {"survey_id": survey.pk, "question_id": question.pk, "title": survey.title, "question": question.text}
    if question.kind == Question.Kind.NPS:
        return MailSurveyBlock(
            **common,
            kind=SCALE,
            buttons=tuple(SurveyButton(str(value), value) for value in range(0, 11)),
            low_hint=_("0 = not at all likely"),
            high_hint=_("10 = extremely likely"),
        )
    if question.kind == Question.Kind.RATING:
        return MailSurveyBlock(
            **common,
            kind=SCALE,
            buttons=tuple(SurveyButton(f"{value} ★", value) for value in range(1, 6)),
            low_hint=_("1 = poor"),
            high_hint=_("5 = excellent"),
        )
    choices = list(question.choices.all())
    if question.kind == Question.Kind.SINGLE_CHOICE and choices:
        return MailSurveyBlock(
            **common, kind=CHOICES, buttons=tuple(SurveyButton(choice.text, choice.pk) for choice in choices)
        )
    return MailSurveyBlock(**common, kind=OPEN, buttons=(SurveyButton(_("Answer the survey"), 0),))


def _survey_signer(block: MailSurveyBlock) -> DeliverySigner:
    if block.kind == OPEN:
        return tokens.signer(tokens.OPEN, [(block.survey_id,)])
    return tokens.signer(tokens.ANSWER, [(block.question_id, button.value) for button in block.buttons])


def _feedback_tails(article_ids) -> list[tuple[int, int]]:
    return [tail for article_id in article_ids for tail in ((article_id, 1), (article_id, 0))]


class AnswerLinks:
    """Signed per-delivery URLs for a compiled campaign: one per survey button, then a yes and a no
    URL per article with feedback, in the order of ``CompiledCampaign``'s slots."""

    def __init__(self, *, survey: MailSurveyBlock | None, feedback_article_ids: list[int]):
        self._survey = _survey_signer(survey) if survey is not None else None
        self._feedback = (
            tokens.signer(tokens.FEEDBACK, _feedback_tails(feedback_article_ids)) if feedback_article_ids else None
        )

    def for_delivery(self, delivery_id: int) -> tuple[list[str] | None, list[str] | None]:
        """(survey button URLs, feedback URLs) for one delivery; None where the mail has none."""
        return (
            self._survey.urls(delivery_id) if self._survey is not None else None,
            self._feedback.urls(delivery_id) if self._feedback is not None else None,
        )


def preview_survey_urls(block: MailSurveyBlock) -> list[str]:
    if block.kind == OPEN:
        return [tokens.preview_url(tokens.PREVIEW_OPEN, block.survey_id)]
    return [tokens.preview_url(tokens.PREVIEW_ANSWER, block.question_id, button.value) for button in block.buttons]


def preview_feedback_urls(article_ids) -> list[str]:
    return [
        tokens.preview_url(tokens.PREVIEW_FEEDBACK, article_id, useful)
        for article_id, useful in _feedback_tails(article_ids)
    ]


def campaign_answer_links(*, campaign, compiled):
    """The one-click answer URLs per delivery (registered in ``campaigns.extensions``). Answers,
    not tracking: every recipient gets them, whatever their tracking consent."""
    if not compiled.has_answer_links:
        return None
    links = AnswerLinks(survey=compiled.survey, feedback_article_ids=compiled.feedback_article_ids)

    def for_recipient(delivery_id: int, subscriber) -> dict:
        survey_urls, feedback_urls = links.for_delivery(delivery_id)
        return {"survey_urls": survey_urls, "feedback_urls": feedback_urls}

    return for_recipient


def campaign_survey_summary(campaign) -> str:
    """The campaign admin's line about the survey in its mail: a link to the survey and its results."""
    survey = selectors.campaign_mail_survey(campaign_id=campaign.pk)
    if survey is None:
        return _("None. Choose this campaign on a survey's page to show its first question in the mail.")
    return format_html(
        '<a href="{}">{}</a> · <a href="{}">{}</a>',
        reverse("admin:surveys_survey_change", args=[survey.pk]),
        survey.title,
        reverse("surveys:results", args=[survey.pk]),
        _("results"),
    )


def campaign_feedback_summary(campaign) -> str:
    """The campaign admin's table of "was this useful?" answers per article."""
    rows = [row for row in selectors.campaign_article_feedback(campaign=campaign) if row.total]
    if not rows:
        return "–"
    return format_html(
        "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>%</th></tr>{}</table>",
        _("article"),
        _("useful"),
        _("not useful"),
        format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((row.headline, row.useful, row.not_useful, row.useful_percent) for row in rows),
        ),
    )
