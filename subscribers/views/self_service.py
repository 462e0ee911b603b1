"""Pages a subscriber reaches from links in every mail; the signed token in the link is the only key."""

import json

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from django_ratelimit.core import is_ratelimited

from newsletter_site.i18n import activate_reader_language
from subscribers import extensions, links, selectors, tokens
from subscribers.forms_self_service import PreferencesForm, UnsubscribeForm
from subscribers.models import MailingList, Subscriber
from subscribers.services import data_links, preferences
from subscribers.services.consent import request_evidence
from subscribers.services.preferences import LIVE_STATUSES


def _subscriber_or_404(request, token: str, purpose: str) -> Subscriber:
    """The subscriber the link names; the page then speaks the subscriber's language."""
    try:
        subscriber = selectors.subscriber_by_token(token=token, purpose=purpose)
    except tokens.InvalidToken as error:
        raise Http404(_("This link is not valid.")) from error
    if subscriber is None:
        raise Http404(_("We hold no data for this link."))
    activate_reader_language(request, subscriber.language)
    return subscriber


def _self_service_links(subscriber: Subscriber) -> dict:
    preferences_token = links.preferences_token(subscriber)
    return {
        "preferences_path": reverse("subscribers:preferences", kwargs={"token": preferences_token}),
        "unsubscribe_path": reverse("subscribers:unsubscribe", kwargs={"token": links.unsubscribe_token(subscriber)}),
        "data_link_request_path": reverse("subscribers:data_link_request", kwargs={"token": preferences_token}),
    }


@require_http_methods(["GET", "POST"])
def preferences_view(request, token):
    subscriber = _subscriber_or_404(request, token, "preferences")
    live_list_ids = set(
        subscriber.subscriptions.filter(status__in=LIVE_STATUSES).values_list("mailing_list_id", flat=True)
    )
    available = MailingList.objects.filter(is_public=True) | MailingList.objects.filter(pk__in=live_list_ids)
    form = PreferencesForm(
        request.POST or None,
        available_lists=available.distinct().order_by("name"),
        custom_fields=selectors.custom_fields_for_preferences(),
        stored_values=subscriber.fields,
        language=subscriber.language,
        initial={
            "first_name": subscriber.first_name,
            "last_name": subscriber.last_name,
            "language": subscriber.language,
            "tracking_consent": subscriber.tracking_consent,
            "mailing_lists": list(live_list_ids),
        },
    )
    if request.method == "POST" and form.is_valid():
        outcome = preferences.subscriber_preferences_update(
            subscriber=subscriber,
            first_name=form.cleaned_data["first_name"],
            last_name=form.cleaned_data["last_name"],
            language=form.cleaned_data["language"],
            tracking_consent=form.cleaned_data["tracking_consent"],
            wanted_lists=list(form.cleaned_data["mailing_lists"]),
            fields=form.custom_values(),
            **request_evidence(request),
        )
        activate_reader_language(request, form.cleaned_data["language"])
        return render(
            request,
            "subscribers/self_service/preferences_saved.html",
            {"subscriber": subscriber, "outcome": outcome, **_self_service_links(subscriber)},
        )
    status = 400 if request.method == "POST" else 200
    sections = extensions.preference_sections(request, subscriber)
    response = render(
        request,
        "subscribers/self_service/preferences.html",
        {"form": form, "subscriber": subscriber, "sections": sections, **_self_service_links(subscriber)},
        status=status,
    )
    for section in sections:
        for name, (value, max_age) in section.cookies.items():
            response.set_cookie(name, value, max_age=max_age, secure=request.is_secure(), httponly=True, samesite="Lax")
    return response


@require_http_methods(["GET", "POST"])
def unsubscribe_view(request, token):
    subscriber = _subscriber_or_404(request, token, "unsubscribe")
    subscriptions = list(subscriber.subscriptions.filter(status__in=LIVE_STATUSES).select_related("mailing_list"))
    form = UnsubscribeForm(request.POST or None, subscriptions=subscriptions)
    if request.method == "POST" and form.is_valid():
        scope = form.cleaned_data["scope"]
        mailing_list = None if scope == "all" else MailingList.objects.get(pk=int(scope))
        preferences.subscriber_unsubscribe(
            subscriber=subscriber, mailing_list=mailing_list, source="unsubscribe page", **request_evidence(request)
        )
        return render(
            request,
            "subscribers/self_service/unsubscribed.html",
            {"subscriber": subscriber, "mailing_list": mailing_list, **_self_service_links(subscriber)},
        )
    return render(
        request,
        "subscribers/self_service/unsubscribe.html",
        {"form": form, "subscriber": subscriber, "subscriptions": subscriptions, **_self_service_links(subscriber)},
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def one_click_unsubscribe_view(request, token):
    """RFC 8058: a POST from the mail client, without cookies or login, unsubscribes. A GET never does."""
    subscriber = _subscriber_or_404(request, token, "unsubscribe")
    if request.method == "GET":
        return redirect("subscribers:unsubscribe", token=token)
    preferences.subscriber_unsubscribe(
        subscriber=subscriber,
        source="one-click (RFC 8058)",
        **request_evidence(request),
    )
    return HttpResponse(_("You are unsubscribed."), content_type="text/plain; charset=utf-8")


@require_POST
def data_link_request_view(request, token):
    """The "send me my data" and "delete my data" buttons: a link goes to the subscriber's own
    address, never to whoever holds this page (a forwarded newsletter leads here too)."""
    subscriber = _subscriber_or_404(request, token, "preferences")
    action = request.POST.get("action", "")
    if action not in tokens.DATA_LINK_ACTIONS:
        return render(request, "subscribers/self_service/data_link_sent.html", {"invalid": True}, status=400)
    rate = settings.KANAL_DATA_LINK_RATE
    for group, key in (("data-link-ip", "ip"), ("data-link-subscriber", lambda group, request: str(subscriber.pk))):
        if is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True):
            return render(request, "subscribers/rate_limited.html", status=429)
    data_links.data_link_request(subscriber=subscriber, action=action)
    return render(
        request,
        "subscribers/self_service/data_link_sent.html",
        {"action": action, **_self_service_links(subscriber)},
    )


def _data_link_subscriber_or_404(request, public_id, action: str, token: str) -> Subscriber:
    subscriber = selectors.subscriber_by_data_link(public_id=public_id, action=action, token=token)
    if subscriber is None:
        raise Http404(_("This link is not valid, was used already or is older than 24 hours."))
    activate_reader_language(request, subscriber.language)
    return subscriber


@never_cache
@require_http_methods(["GET", "POST"])
def data_export_view(request, public_id, token):
    """From the mail sent to the subscriber: GET asks, a POST downloads once."""
    if request.method == "GET":
        _data_link_subscriber_or_404(request, public_id, "export", token)
        return render(request, "subscribers/self_service/data_export_confirm.html")
    try:
        data = data_links.data_link_export(public_id=public_id, token=token)
    except tokens.InvalidToken as error:
        raise Http404(_("This link is not valid, was used already or is older than 24 hours.")) from error
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False), content_type="application/json; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="kanal-my-data.json"'
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def data_erase_view(request, public_id, token):
    """From the mail sent to the subscriber: GET asks, a POST erases."""
    if request.method == "GET":
        subscriber = _data_link_subscriber_or_404(request, public_id, "erase", token)
        return render(request, "subscribers/self_service/erase_confirm.html", {"subscriber": subscriber})
    try:
        data_links.data_link_erase(public_id=public_id, token=token)
    except tokens.InvalidToken as error:
        raise Http404(_("This link is not valid, was used already or is older than 24 hours.")) from error
    return render(request, "subscribers/self_service/erased.html")
