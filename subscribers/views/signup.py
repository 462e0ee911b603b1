from urllib.parse import urlsplit

from django.conf import settings
from django.http import Http404, HttpResponseForbidden, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from newsletter_site.i18n import activate_reader_language
from newsletter_site.permissions import staff_permission_required
from subscribers import antispam, extensions, links, selectors
from subscribers.forms import CUSTOM_PREFIX, SubscribeForm, custom_values
from subscribers.models import ConsentText, MailingList
from subscribers.services import optin
from subscribers.services.consent import request_evidence

ALTCHA_SCRIPT = "subscribers/vendor/altcha/altcha.i18n.min.js"


def _public_list_or_404(slug: str) -> MailingList:
    try:
        return selectors.public_list_get(slug=slug)
    except MailingList.DoesNotExist as error:
        raise Http404(_("There is no newsletter at this address.")) from error


def _address_rate_key(group, request):
    return request.POST.get("email", "").strip().lower()[:254]


def _default_consent_wording() -> str:
    return _("I would like to receive this newsletter by email.")


def signup_form(
    *, mailing_list: MailingList, language: str, consent_text: ConsentText | None, data=None, **kwargs
) -> SubscribeForm:
    """The sign-up form of a public list in ``language`` with ``consent_text`` (the current one,
    ``selectors.consent_text_current``); ``kwargs`` go to the form (e.g. ``auto_id`` when several
    lists' forms share a page)."""
    return SubscribeForm(
        data,
        consent_text=consent_text.text if consent_text else _default_consent_wording(),
        language=language,
        altcha_required=antispam.altcha_enabled(),
        custom_fields=selectors.custom_fields_for_signup(mailing_list=mailing_list),
        **kwargs,
    )


def signup_form_context(request, *, mailing_list: MailingList, form: SubscribeForm) -> dict:
    """What ``subscribers/signup_form.html`` needs: the form, its signed start time, the ALTCHA
    challenge and the values other apps carry through the form (``SIGNUP_EXTRAS``)."""
    return {
        "form": form,
        "mailing_list": mailing_list,
        "form_started": antispam.form_started_token(),
        "altcha_challenge_url": reverse("subscribers:altcha_challenge") if antispam.altcha_enabled() else "",
        "altcha_script": ALTCHA_SCRIPT,
        "hidden_fields": (
            extensions.signup_hidden_fields(request.POST, first_view=False)
            if request.method == "POST"
            else extensions.signup_hidden_fields(request.GET, first_view=True)
        ),
    }


def _form_page(request, *, mailing_list: MailingList, form: SubscribeForm, status: int = 200, **extra):
    context = {**signup_form_context(request, mailing_list=mailing_list, form=form), **extra}
    return render(request, "subscribers/subscribe.html", context, status=status)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def _embedding_site_allowed(request) -> bool:
    """Whether the page that posted the embedded form is Kanal's own or one of KANAL_EMBED_ORIGINS.

    Browsers send Origin with every form POST; Referer stands in where a privacy setting sends
    "null". A request naming neither is not from a browser on a listed page.
    """
    origin = request.META.get("HTTP_ORIGIN", "")
    if origin in ("", "null"):
        origin = _origin_of(request.META.get("HTTP_REFERER", ""))
    allowed = {_origin_of(settings.SITE_URL), *(_origin_of(site) for site in settings.KANAL_EMBED_ORIGINS)}
    return bool(origin) and origin.lower() in allowed


def _source_url(request) -> str:
    """The page the form was on. Browsers cut a cross-site Referer to the origin, or drop it for http targets."""
    origin = request.META.get("HTTP_ORIGIN", "")
    return request.META.get("HTTP_REFERER", "") or (origin if origin != "null" else "") or request.build_absolute_uri()


def _signup_handle(request, *, mailing_list: MailingList, form: SubscribeForm, consent_text: ConsentText | None):
    """What the form page and the embedded form share: limits, validation, bot checks, double opt-in."""
    if is_ratelimited(
        request, group="subscribe-ip", key="ip", rate=settings.KANAL_SIGNUP_RATE_PER_IP, method="POST", increment=True
    ):
        return _form_page(request, mailing_list=mailing_list, form=form, status=429, rate_limited=True)
    if not form.is_valid():
        return _form_page(request, mailing_list=mailing_list, form=form, status=400)
    # Bots and repeated hits on one address get the same answer as everyone else, and no mail.
    address_limited = is_ratelimited(
        request,
        group="subscribe-address",
        key=_address_rate_key,
        rate=settings.KANAL_SIGNUP_RATE_PER_ADDRESS,
        method="POST",
        increment=True,
    )
    if not form.is_bot and not address_limited:
        optin.subscriber_subscribe(
            email=form.cleaned_data["email"],
            first_name=form.cleaned_data["first_name"],
            fields=custom_values(form),
            mailing_list=mailing_list,
            consent_text=consent_text,
            language=form.language,
            source_url=_source_url(request),
            details=extensions.signup_details(request, mailing_list),
            **request_evidence(request),
        )
    return redirect("subscribers:subscribe_thanks", slug=mailing_list.slug)


@require_http_methods(["GET", "POST"])
def subscribe(request, slug):
    mailing_list = _public_list_or_404(slug)
    language = translation.get_language() or mailing_list.language
    consent_text = selectors.consent_text_current(language=language)
    form = signup_form(
        mailing_list=mailing_list,
        language=language,
        consent_text=consent_text,
        data=request.POST if request.method == "POST" else None,
    )
    if request.method == "GET":
        return _form_page(request, mailing_list=mailing_list, form=form)
    return _signup_handle(request, mailing_list=mailing_list, form=form, consent_text=consent_text)


@csrf_exempt
@require_POST
def subscribe_embedded(request, slug):
    """The target of the snippet marketers paste into their own site.

    A cross-site POST carries no CSRF cookie, so this endpoint is exempt; nothing it does needs a
    session. Abuse is held off by the honeypot, the rate limits, ALTCHA when configured, and the
    double opt-in: nobody is subscribed before clicking the link in the confirmation mail. Only
    pages on the sites in KANAL_EMBED_ORIGINS (and Kanal's own) may post it.
    """
    if not _embedding_site_allowed(request):
        return HttpResponseForbidden(_("This sign-up form may not be used on this website."), content_type="text/plain")
    mailing_list = _public_list_or_404(slug)
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        language = mailing_list.language
    # The snippet names the consent wording it shows; versions are never edited, so that wording is the proof.
    consent_text = selectors.consent_text_version(
        language=language, version=request.POST.get("consent_version", "")
    ) or selectors.consent_text_current(language=language)
    form = SubscribeForm(
        request.POST,
        consent_text=consent_text.text if consent_text else _default_consent_wording(),
        language=language,
        altcha_required=antispam.altcha_enabled(),
        check_fill_time=False,
        custom_fields=selectors.custom_fields_for_signup(mailing_list=mailing_list),
    )
    return _signup_handle(request, mailing_list=mailing_list, form=form, consent_text=consent_text)


@staff_permission_required("subscribers.view_mailinglist")
def subscribe_embed_code(request, slug):
    """The HTML snippet for a list, to copy into another website."""
    mailing_list = get_object_or_404(MailingList, slug=slug)
    language = mailing_list.language
    consent_text = selectors.consent_text_current(language=language)
    altcha_enabled = antispam.altcha_enabled()
    with translation.override(language):
        snippet = render_to_string(
            "subscribers/embed_snippet.html",
            {
                "mailing_list_name": mailing_list.name,
                "action_url": settings.SITE_URL + reverse("subscribers:subscribe_embedded", kwargs={"slug": slug}),
                "language": language,
                "consent_text": consent_text.text if consent_text else _default_consent_wording(),
                "consent_version": consent_text.version if consent_text else "",
                "altcha_challenge_url": (
                    settings.SITE_URL + reverse("subscribers:altcha_challenge") if altcha_enabled else ""
                ),
                "altcha_script_url": settings.SITE_URL + static(ALTCHA_SCRIPT) if altcha_enabled else "",
                "custom_fields": [
                    {
                        "name": CUSTOM_PREFIX + field.key,
                        "label": field.label(language),
                        "help": field.help_text(language),
                        "kind": field.kind,
                        "required": field.required,
                        "choices": field.option_choices(language),
                    }
                    for field in selectors.custom_fields_for_signup(mailing_list=mailing_list)
                ],
            },
        ).strip()
    return render(
        request,
        "subscribers/embed_code.html",
        {"mailing_list": mailing_list, "snippet": snippet, "altcha_enabled": altcha_enabled},
    )


@never_cache
@require_GET
def altcha_challenge(request):
    """A fresh ALTCHA challenge; any site may fetch it, as the embedded form does."""
    if not antispam.altcha_enabled():
        raise Http404(_("Proof of work is not switched on."))
    response = JsonResponse(antispam.altcha_challenge_create())
    response["Access-Control-Allow-Origin"] = "*"
    return response


def subscribe_thanks(request, slug):
    mailing_list = _public_list_or_404(slug)
    return render(request, "subscribers/subscribe_thanks.html", {"mailing_list": mailing_list})


@require_http_methods(["GET", "POST"])
def confirm(request, token):
    """GET only shows a button: mail scanners that prefetch links must not confirm anything."""
    # Every POST counts, valid token or not: guessing tokens is what this limit slows down.
    if request.method == "POST" and is_ratelimited(
        request,
        group="confirm-ip",
        key="ip",
        rate=settings.KANAL_CONFIRM_RATE_PER_IP,
        method="POST",
        increment=True,
    ):
        return render(request, "subscribers/rate_limited.html", status=429)
    try:
        subscription = optin.subscription_from_confirmation_token(token=token)
    except optin.ConfirmationError as error:
        return render(request, "subscribers/confirm_failed.html", {"reason": error.reason}, status=400)
    activate_reader_language(request, subscription.subscriber.language)
    if request.method == "GET":
        return render(request, "subscribers/confirm.html", {"subscription": subscription})
    try:
        subscription = optin.subscription_confirm(token=token, **request_evidence(request))
    except optin.ConfirmationError as error:
        return render(request, "subscribers/confirm_failed.html", {"reason": error.reason}, status=400)
    return render(
        request,
        "subscribers/confirmed.html",
        {"subscription": subscription, "preferences_url": links.preferences_url(subscription.subscriber)},
    )
