from django.conf import settings
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_ratelimit.core import is_ratelimited

from subscribers import links, selectors
from subscribers.forms import SubscribeForm
from subscribers.models import MailingList
from subscribers.services import optin
from subscribers.services.consent import request_evidence


def _public_list_or_404(slug: str) -> MailingList:
    try:
        return selectors.public_list_get(slug=slug)
    except MailingList.DoesNotExist as error:
        raise Http404(_("There is no newsletter at this address.")) from error


def _address_rate_key(group, request):
    return request.POST.get("email", "").strip().lower()[:254]


@require_http_methods(["GET", "POST"])
def subscribe(request, slug):
    mailing_list = _public_list_or_404(slug)
    language = translation.get_language() or mailing_list.language
    consent_text = selectors.consent_text_current(language=language)
    form_kwargs = {
        "consent_text": consent_text.text if consent_text else _("I would like to receive this newsletter by email."),
        "language": language,
    }
    if request.method == "GET":
        form = SubscribeForm(**form_kwargs)
        return render(request, "subscribers/subscribe.html", {"form": form, "mailing_list": mailing_list})

    form = SubscribeForm(request.POST, **form_kwargs)
    if is_ratelimited(
        request, group="subscribe-ip", key="ip", rate=settings.KANAL_SIGNUP_RATE_PER_IP, method="POST", increment=True
    ):
        return render(
            request,
            "subscribers/subscribe.html",
            {
                "form": form,
                "mailing_list": mailing_list,
                "rate_limited": True,
            },
            status=429,
        )
    if not form.is_valid():
        return render(request, "subscribers/subscribe.html", {"form": form, "mailing_list": mailing_list}, status=400)
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
            mailing_list=mailing_list,
            consent_text=consent_text,
            language=language,
            source_url=request.META.get("HTTP_REFERER", "") or request.build_absolute_uri(),
            **request_evidence(request),
        )
    return redirect("subscribers:subscribe_thanks", slug=mailing_list.slug)


def subscribe_thanks(request, slug):
    mailing_list = _public_list_or_404(slug)
    return render(request, "subscribers/subscribe_thanks.html", {"mailing_list": mailing_list})


@require_http_methods(["GET", "POST"])
def confirm(request, token):
    """GET only shows a button: mail scanners that prefetch links must not confirm anything."""
    try:
        subscription = optin.subscription_from_confirmation_token(token=token)
    except optin.ConfirmationError as error:
        return render(request, "subscribers/confirm_failed.html", {"reason": error.reason}, status=400)
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
