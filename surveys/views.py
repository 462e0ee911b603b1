import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from newsletter_site.csv_export import csv_response
from newsletter_site.permissions import may_use, staff_permission_required
from subscribers import antispam
from surveys import selectors, services
from surveys.forms import SurveyForm, field_name, initial_from_response
from surveys.models import Response, Survey

RESPONDENT_COOKIE = "kanal_survey_respondent"
RESPONDENT_SALT = "kanal.surveys.respondent"
RESPONDENT_COOKIE_MAX_AGE = 365 * 24 * 3600


def _rate_per_ip() -> str:
    return settings.KANAL_SURVEY_RATE_PER_IP


def _public_survey_or_404(slug: str) -> Survey:
    survey = Survey.objects.filter(slug=slug, is_public=True).first()
    if survey is None:
        raise Http404(_("There is no survey at this address."))
    return survey


def _respondent_key(request) -> uuid.UUID | None:
    value = request.get_signed_cookie(RESPONDENT_COOKIE, default=None, salt=RESPONDENT_SALT)
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _survey_page(request, *, survey: Survey, form: SurveyForm, status: int = 200, **extra):
    context = {"survey": survey, "form": form, "form_started": antispam.form_started_token(), **extra}
    return render(request, "surveys/survey.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def survey_answer(request, slug):
    """The public survey. A GET only shows the form (with any ``?q<id>=`` answer preselected); only a POST stores."""
    survey = _public_survey_or_404(slug)
    respondent_key = _respondent_key(request)
    if request.method == "GET":
        existing = (
            Response.objects.filter(survey=survey, respondent_key=respondent_key).first() if respondent_key else None
        )
        initial = initial_from_response(existing)
        # Links from a mail preselect an answer; shown, never stored, until the reader sends the form.
        for question in survey.questions.all():
            name = field_name(question)
            if name in request.GET:
                initial[name] = request.GET.getlist(name) if question.is_choice else request.GET[name]
        form = SurveyForm(survey=survey, initial=initial)
        return _survey_page(request, survey=survey, form=form, editing=existing is not None)
    form = SurveyForm(request.POST, survey=survey)
    if is_ratelimited(request, group="survey-ip", key="ip", rate=_rate_per_ip(), method="POST", increment=True):
        return _survey_page(request, survey=survey, form=form, status=429, rate_limited=True)
    if not form.is_valid():
        return _survey_page(request, survey=survey, form=form, status=400)
    if form.is_bot:
        # Same answer as everyone else, and nothing stored.
        return redirect("surveys:thanks", slug=survey.slug)
    new_key = respondent_key or uuid.uuid4()
    try:
        services.response_submit(
            survey=survey, answers=form.answers(), respondent_key=new_key, source=Response.Source.PUBLIC
        )
    except ValidationError as error:
        for key, messages in error.message_dict.items():
            form.add_error(None if key == "__all__" or key not in form.fields else key, messages)
        return _survey_page(request, survey=survey, form=form, status=400)
    redirect_response = redirect("surveys:thanks", slug=survey.slug)
    redirect_response.set_signed_cookie(
        RESPONDENT_COOKIE,
        str(new_key),
        salt=RESPONDENT_SALT,
        max_age=RESPONDENT_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
    return redirect_response


def survey_thanks(request, slug):
    survey = _public_survey_or_404(slug)
    return render(request, "surveys/thanks.html", {"survey": survey})


@staff_permission_required("surveys.view_survey")
def survey_results(request, pk):
    survey = get_object_or_404(Survey.objects.select_related("campaign"), pk=pk)
    text_query = request.GET.get("q", "").strip()[:200]
    context = {
        "survey": survey,
        "text_query": text_query,
        "comparison": selectors.survey_campaign_comparison() if survey.campaign_id else [],
        "can_download": may_use(request.user, survey_results_csv),
        **selectors.survey_results(survey=survey, text_query=text_query),
    }
    return render(request, "surveys/staff/results.html", context)


@staff_permission_required("surveys.view_survey")
def survey_comparison(request):
    return render(request, "surveys/staff/comparison.html", {"comparison": selectors.survey_campaign_comparison()})


# The answers carry the respondents' addresses.
@staff_permission_required("surveys.view_survey", "subscribers.view_subscriber")
def survey_results_csv(request, pk):
    survey = get_object_or_404(Survey, pk=pk)
    return csv_response(selectors.survey_export_rows(survey=survey), filename=f"survey-{survey.pk}-responses.csv")
