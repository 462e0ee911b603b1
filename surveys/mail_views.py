"""The pages behind the one-click links in campaign mails: survey answers and article feedback.

A GET never stores anything, because mail scanners fetch every link: it shows the page with the
clicked answer selected. The answer is stored by a POST to the same address, which a small
script sends right after the page has loaded in a real browser (``surveys/confirm.js``) and a
visible button sends without JavaScript. POSTs that look like machines by the tracking app's
rules (``tracking.machines``: scanner user agents, no user agent, seconds after sending) store
nothing; a GET that looks like one gets the button but no automatic POST.

Links name a delivery, so the answer belongs to that delivery's subscriber: one response per
subscriber and survey, edited by every later answer. They are not rate-limited per address like
the public survey page: offices answer from one address, and the signed delivery bounds what a
link can do. The pages never show earlier answers (only the one the link itself carries): a
forwarded mail can answer, but it cannot read what the subscriber said.
"""

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe

from campaigns.models import Article, Delivery
from newsletter_site.i18n import activate_reader_language
from subscribers import antispam
from surveys import selectors, services, tokens
from surveys.forms import SurveyForm, field_name
from surveys.models import Question, Response, Survey
from tracking import machines
from tracking.models import Event

CONFIRM, SURVEY = "confirm", "survey"


def _not_found():
    raise Http404(_("This link is not valid. Please use the link from your mail."))


def _delivery_or_404(request, delivery_id: int) -> Delivery:
    """The delivery the link names; the page then speaks the language of its mail."""
    delivery = Delivery.objects.select_related("subscriber", "campaign").filter(pk=delivery_id).first()
    if delivery is None or delivery.subscriber is None:  # erased subscribers answer no more
        _not_found()
    activate_reader_language(request, delivery.campaign.language)
    return delivery


def machine_reason(request, *, delivery: Delivery) -> str:
    """Why this request looks like a machine rather than the reader (tracking's rules), or ""."""
    return machines.label_single(
        kind=Event.Kind.CLICK,
        head=request.method == "HEAD",
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        occurred_at=timezone.now(),
        sent_at=delivery.sent_at,
        scanner_seconds=settings.KANAL_TRACKING_SCANNER_SECONDS,
    )


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@dataclass
class Confirmation:
    """The "your answer" box above the survey: one answer waiting for its POST, or saved."""

    url: str
    label: str
    saved: bool = False
    auto: bool = True  # the page POSTs it by itself
    refused: bool = False  # a POST came and was not counted


def _confirm_outcome(request, *, saved: bool, error: str = "", status: int = 200):
    """JSON for the page's script; None for a plain form POST, which gets a page."""
    if _wants_json(request):
        return JsonResponse({"saved": saved, "error": error}, status=status)
    return None


def _survey_page(request, *, survey: Survey, form: SurveyForm | None, status: int = 200, **context):
    context = {
        "survey": survey,
        "form": form,
        "form_started": antispam.form_started_token(),
        "post_url": request.path,
        **context,
    }
    return render(request, "surveys/mail_survey.html", context, status=status)


def _thanks(request, survey: Survey):
    return render(request, "surveys/thanks.html", {"survey": survey, "change_url": request.path})


def _survey_submit(request, *, survey: Survey, delivery: Delivery):
    """The rest of the survey, sent from the page: replaces the subscriber's whole response."""
    form = SurveyForm(request.POST, survey=survey)
    if machine_reason(request, delivery=delivery):
        return _survey_page(request, survey=survey, form=form, status=403, refused=True)
    if not form.is_valid():
        return _survey_page(request, survey=survey, form=form, status=400)
    if not form.is_bot:
        try:
            services.response_submit(
                survey=survey,
                answers=form.answers(),
                subscriber=delivery.subscriber,
                source=Response.Source.MAIL,
                delivery_id=delivery.pk,
            )
        except ValidationError as error:
            for key, messages in error.message_dict.items():
                form.add_error(None if key == "__all__" or key not in form.fields else key, messages)
            return _survey_page(request, survey=survey, form=form, status=400)
    return redirect(request.path + "?done=1")


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def mail_answer(request, token: str):
    """``/s/a/<token>``: one answer to a survey's first question, clicked in a mail."""
    ids = tokens.verify_answer(token)
    if ids is None:
        _not_found()
    delivery = _delivery_or_404(request, ids[0])
    question = Question.objects.select_related("survey").filter(pk=ids[1]).first()
    if question is None:
        _not_found()
    survey, value, subscriber = question.survey, ids[2], delivery.subscriber
    if request.method == "POST" and request.POST.get("step") == SURVEY:
        return _survey_submit(request, survey=survey, delivery=delivery)
    if request.method == "GET" and request.GET.get("done"):
        return _thanks(request, survey)
    label = selectors.answer_label(question=question, value=value)
    if label is None:
        # Signed by Kanal, but the option was deleted or the question changed since the mail went out.
        error = _("This answer is no longer available. Please choose again below.")
        if request.method == "POST" and (outcome := _confirm_outcome(request, saved=False, error=error, status=400)):
            return outcome
        form = SurveyForm(survey=survey)
        return _survey_page(request, survey=survey, form=form, status=400, error=error)
    confirmation = Confirmation(url=request.path, label=label)
    if request.method == "POST":
        if machine_reason(request, delivery=delivery):
            if outcome := _confirm_outcome(request, saved=False, status=403):
                return outcome
            confirmation.refused, confirmation.auto, status = True, False, 403
        else:
            try:
                services.response_answer_record(
                    question=question,
                    raw=value,
                    subscriber=subscriber,
                    source=Response.Source.MAIL,
                    delivery_id=delivery.pk,
                )
            except ValidationError:
                _not_found()  # answer_label accepted it a moment ago: the question changed under us
            return _confirm_outcome(request, saved=True) or redirect(request.path)
    else:
        status = 200
        confirmation.auto = not machine_reason(request, delivery=delivery)
    response = selectors.response_of(survey=survey, subscriber=subscriber)
    confirmation.saved = selectors.answer_matches(response=response, question=question, value=value)
    form = SurveyForm(survey=survey, initial={field_name(question): str(value)})
    return _survey_page(
        request, survey=survey, form=form, status=status, confirmation=confirmation, editing=response is not None
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def mail_survey(request, token: str):
    """``/s/o/<token>``: the whole survey from a mail whose first question has no one-click answers."""
    ids = tokens.verify_open(token)
    if ids is None:
        _not_found()
    delivery = _delivery_or_404(request, ids[0])
    survey = Survey.objects.filter(pk=ids[1]).first()
    if survey is None:
        _not_found()
    if request.method == "POST":
        return _survey_submit(request, survey=survey, delivery=delivery)
    if request.GET.get("done"):
        return _thanks(request, survey)
    answered = selectors.response_of(survey=survey, subscriber=delivery.subscriber) is not None
    return _survey_page(request, survey=survey, form=SurveyForm(survey=survey), editing=answered)


def _feedback_page(request, *, article: Article, status: int = 200, **context):
    return render(request, "surveys/mail_feedback.html", {"article": article, **context}, status=status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def mail_feedback(request, token: str):
    """``/s/f/<token>``: "was this article useful?" answered yes or no in a mail."""
    ids = tokens.verify_feedback(token)
    if ids is None:
        _not_found()
    delivery_id, article_id, useful = ids
    delivery = _delivery_or_404(request, delivery_id)
    article = Article.objects.filter(pk=article_id, campaign_id=delivery.campaign_id).first()
    if article is None:
        _not_found()
    label = _("Yes") if useful else _("No")
    confirmation = Confirmation(url=request.path, label=label)
    status = 200
    if request.method == "POST":
        if machine_reason(request, delivery=delivery):
            if outcome := _confirm_outcome(request, saved=False, status=403):
                return outcome
            confirmation.refused, confirmation.auto, status = True, False, 403
        else:
            services.article_feedback_record(
                article=article, useful=useful, subscriber=delivery.subscriber, delivery_id=delivery.pk
            )
            return _confirm_outcome(request, saved=True) or redirect(request.path)
    else:
        confirmation.auto = not machine_reason(request, delivery=delivery)
    feedback = selectors.article_feedback_of(article=article, subscriber=delivery.subscriber)
    confirmation.saved = feedback is not None and feedback.useful == useful
    other_url = tokens.feedback_url(delivery_id=delivery.pk, article_id=article.pk, useful=not useful)
    return _feedback_page(
        request,
        article=article,
        status=status,
        confirmation=confirmation,
        other_url=other_url,
        other_label=_("No") if useful else _("Yes"),
    )


@never_cache
@require_safe
def mail_preview(request, token: str):
    """``/s/p/<token>``: what a one-click link in a test mail, the preview or the archive page opens.
    It names no delivery, so it shows the page and stores nothing, ever."""
    ids = tokens.verify_preview(token)
    if ids is None:
        _not_found()
    what, object_id, value = ids
    if what == tokens.PREVIEW_FEEDBACK:
        article = Article.objects.filter(pk=object_id).first()
        if article is None:
            _not_found()
        return _feedback_page(request, article=article, preview=True, preview_label=_("Yes") if value else _("No"))
    if what == tokens.PREVIEW_OPEN:
        survey = Survey.objects.filter(pk=object_id).first()
        initial = {}
    else:
        question = Question.objects.select_related("survey").filter(pk=object_id).first()
        survey = question.survey if question else None
        initial = {field_name(question): str(value)} if question else {}
    if survey is None:
        _not_found()
    return _survey_page(request, survey=survey, form=SurveyForm(survey=survey, initial=initial), preview=True)
