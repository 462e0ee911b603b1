"""Writes for surveys: storing a response, recording article feedback, anonymising on erase."""

import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from campaigns.models import Article
from subscribers.models import Subscriber
from surveys import signals
from surveys.models import FREE_TEXT_MAX_LENGTH, Answer, ArticleFeedback, Choice, Question, Response, Survey


def _is_blank(raw) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple | set):
        return not any(not _is_blank(item) for item in raw)
    return False


def _as_list(raw) -> list:
    return [item for item in (raw if isinstance(raw, list | tuple | set) else [raw]) if not _is_blank(item)]


def _clean_answer(question: Question, raw):
    """The stored form of one answer (int, list of Choice or str), or a ValidationError message."""
    if question.score_range:
        values = _as_list(raw)
        if len(values) != 1:
            raise ValidationError(_("Please pick one value."), code="multiple")
        try:
            value = int(str(values[0]).strip())
        except ValueError as error:
            raise ValidationError(_("Please pick a number."), code="invalid") from error
        low, high = question.score_range
        if not low <= value <= high:
            raise ValidationError(
                _("Please pick a value from %(low)s to %(high)s.") % {"low": low, "high": high}, code="out_of_range"
            )
        return value
    if question.is_choice:
        values = _as_list(raw)
        if question.kind == Question.Kind.SINGLE_CHOICE and len(values) > 1:
            raise ValidationError(_("Please pick only one option."), code="multiple")
        try:
            ids = {int(str(value).strip()) for value in values}
        except ValueError as error:
            raise ValidationError(_("This option does not exist."), code="unknown_choice") from error
        choices = list(question.choices.filter(pk__in=ids))
        if len(choices) != len(ids):
            raise ValidationError(_("This option does not exist."), code="unknown_choice")
        return choices
    values = _as_list(raw)
    if len(values) != 1 or not isinstance(values[0], str):
        raise ValidationError(_("Please enter text."), code="invalid")
    text = values[0].strip()
    if len(text) > FREE_TEXT_MAX_LENGTH:
        raise ValidationError(
            _("Please keep your answer under %(max)s characters.") % {"max": FREE_TEXT_MAX_LENGTH}, code="too_long"
        )
    return text


def response_validate(*, survey: Survey, answers: dict) -> dict[Question, object]:
    """Check every answer against its question; raise one ValidationError keyed by question id."""
    questions = list(survey.questions.all())
    known = {str(question.pk) for question in questions}
    errors: dict[str, list] = {}
    unknown = [key for key in answers if str(key) not in known]
    if unknown:
        errors["__all__"] = [ValidationError(_("The answers name a question this survey does not have."))]
    by_id = {str(key): raw for key, raw in answers.items()}
    cleaned = {}
    for question in questions:
        raw = by_id.get(str(question.pk))
        if _is_blank(raw):
            if question.required:
                errors[f"q{question.pk}"] = [ValidationError(_("Please answer this question."), code="required")]
            continue
        try:
            cleaned[question] = _clean_answer(question, raw)
        except ValidationError as error:
            errors[f"q{question.pk}"] = [error]
    if errors:
        raise ValidationError(errors)
    return cleaned


def response_submit(
    *,
    survey: Survey,
    answers: dict,
    subscriber: Subscriber | None = None,
    respondent_key: uuid.UUID | str | None = None,
    source: str,
    delivery_id: int | None = None,
) -> Response:
    """Store (or replace) the response of one subscriber or anonymous respondent.

    ``answers`` maps a question id to its raw value: a score, a choice id or list of ids, or text.
    Any invalid answer raises a ValidationError (keys ``q<question id>``) and nothing is stored.
    """
    if source not in Response.Source.values:
        raise ValueError(f"unknown source {source!r}")
    cleaned = response_validate(survey=survey, answers=answers)
    with transaction.atomic():
        response = _response_locked(
            survey=survey, subscriber=subscriber, respondent_key=respondent_key, source=source, delivery_id=delivery_id
        )
        response.answers.all().delete()
        stored = [_answer_store(response=response, question=q, value=value) for q, value in cleaned.items()]
        _answers_announce(subscriber=subscriber, answers=stored)
    return response


def _answers_announce(*, subscriber: Subscriber | None, answers: list[Answer]) -> None:
    if subscriber is None or not answers:
        return
    answer_ids = [answer.pk for answer in answers]
    signals.answers_stored.send(sender=Answer, subscriber_id=subscriber.pk, answer_ids=answer_ids)
    transaction.on_commit(
        lambda: signals.answers_recorded.send(sender=Answer, subscriber_id=subscriber.pk, answer_ids=answer_ids),
        robust=True,
    )


def _response_locked(
    *, survey: Survey, subscriber: Subscriber | None, respondent_key, source: str, delivery_id: int | None
) -> Response:
    """The person's response to ``survey``, locked for the current transaction, made if missing."""
    if subscriber is None and respondent_key is None:
        lookup = None
    elif subscriber is not None:
        lookup = {"survey": survey, "subscriber": subscriber}
    else:
        lookup = {"survey": survey, "respondent_key": uuid.UUID(str(respondent_key)), "subscriber": None}
    response = None
    if lookup is not None:
        response = Response.objects.select_for_update().filter(**lookup).first()
    if response is None:
        response = Response(
            survey=survey,
            subscriber=subscriber,
            respondent_key=lookup["respondent_key"] if lookup and "respondent_key" in lookup else None,
            source=source,
            delivery_id=delivery_id,
        )
        try:
            with transaction.atomic():
                response.save()
        except IntegrityError:
            # A concurrent first answer by the same person won; edit that one instead.
            response = Response.objects.select_for_update().get(**lookup)
        else:
            return response
    response.source = source
    if delivery_id is not None:
        response.delivery_id = delivery_id
    response.save(update_fields=["source", "delivery_id", "updated_at"])
    return response


def _answer_store(*, response: Response, question: Question, value) -> Answer:
    answer = Answer(response=response, question=question)
    if question.score_range:
        answer.value = value
    elif not question.is_choice:
        answer.text = value
    answer.save()
    if question.is_choice:
        answer.choices.set(value)
    return answer


def response_answer_record(
    *, question: Question, raw, subscriber: Subscriber, source: str, delivery_id: int | None = None
) -> Response:
    """Store one answer of a subscriber and keep their answers to the survey's other questions.

    The one-click answer from a mail: the first answer creates the subscriber's response (other
    required questions may still be open), a later one replaces only this question's answer. An
    invalid value raises a ValidationError keyed ``q<question id>`` and stores nothing.
    """
    if source not in Response.Source.values:
        raise ValueError(f"unknown source {source!r}")
    if subscriber is None:
        raise ValueError("a one-click answer needs a subscriber")
    try:
        value = _clean_answer(question, raw)
    except ValidationError as error:
        raise ValidationError({f"q{question.pk}": [error]}) from error
    with transaction.atomic():
        response = _response_locked(
            survey=question.survey, subscriber=subscriber, respondent_key=None, source=source, delivery_id=delivery_id
        )
        response.answers.filter(question=question).delete()
        answer = _answer_store(response=response, question=question, value=value)
        _answers_announce(subscriber=subscriber, answers=[answer])
    return response


def article_feedback_record(
    *, article: Article, useful: bool, subscriber: Subscriber | None = None, delivery_id: int | None = None
) -> ArticleFeedback:
    """Record 'was this useful?'; a subscriber answering again changes their earlier answer."""
    with transaction.atomic():
        if subscriber is None:
            return ArticleFeedback.objects.create(article=article, useful=bool(useful), delivery_id=delivery_id)
        feedback, created = ArticleFeedback.objects.select_for_update().get_or_create(
            article=article, subscriber=subscriber, defaults={"useful": bool(useful), "delivery_id": delivery_id}
        )
        if not created:
            feedback.useful = bool(useful)
            if delivery_id is not None:
                feedback.delivery_id = delivery_id
            feedback.save(update_fields=["useful", "delivery_id", "updated_at"])
        signals.article_feedback_stored.send(sender=ArticleFeedback, feedback=feedback)
        transaction.on_commit(
            lambda: signals.article_feedback_recorded.send(sender=ArticleFeedback, feedback=feedback), robust=True
        )
    return feedback


def subscriber_surveys_erase(subscriber: Subscriber) -> None:
    """GDPR erase hook: keep scores and choices for the aggregate figures, drop free text and the link."""
    responses = Response.objects.filter(subscriber=subscriber)
    Answer.objects.filter(response__in=responses, question__kind=Question.Kind.FREE_TEXT).delete()
    responses.update(subscriber=None, respondent_key=None)
    ArticleFeedback.objects.filter(subscriber=subscriber).update(subscriber=None)


SLUG_LENGTH = Survey._meta.get_field("slug").max_length


@transaction.atomic
def survey_copy(*, survey: Survey, campaign) -> Survey:
    """A copy of ``survey`` (questions and choices, no responses) in ``campaign``'s mail, for a campaign
    copied from the survey's own (an A/B test's variant). Its public link stays off."""
    suffix = f"-c{campaign.pk}"
    copy = Survey.objects.create(
        title=survey.title,
        intro=survey.intro,
        thank_you_text=survey.thank_you_text,
        slug=survey.slug[: SLUG_LENGTH - len(suffix)] + suffix,
        is_public=False,
        campaign=campaign,
    )
    for question in survey.questions.prefetch_related("choices"):
        choices = list(question.choices.all())
        question.pk = None
        question.survey = copy
        question.save()
        Choice.objects.bulk_create(
            Choice(question=question, position=choice.position, text=choice.text) for choice in choices
        )
    return copy
