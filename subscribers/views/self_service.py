"""Pages a subscriber reaches from links in every mail; the signed token in the link is the only key."""

import json

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from newsletter_site.i18n import activate_reader_language
from subscribers import selectors, tokens
from subscribers.forms_self_service import PreferencesForm, UnsubscribeForm
from subscribers.models import MailingList, Subscriber
from subscribers.services import gdpr, preferences
from subscribers.services.consent import request_evidence
from subscribers.services.preferences import LIVE_STATUSES


def _subscriber_or_404(request, token: str, purpose: str) -> Subscriber:
    """The subscriber the link names; the page then speaks the subscriber's language."""
    try:
        public_id = tokens.read_subscriber_token(token, purpose=purpose)
    except tokens.InvalidToken as error:
        raise Http404(_("This link is not valid.")) from error
    subscriber = selectors.subscriber_by_public_id(public_id=public_id)
    if subscriber is None:
        raise Http404(_("We hold no data for this link."))
    activate_reader_language(request, subscriber.language)
    return subscriber


def _self_service_links(subscriber: Subscriber) -> dict:
    def token(purpose):
        return tokens.make_subscriber_token(public_id=subscriber.public_id, purpose=purpose)

    return {
        "preferences_path": reverse("subscribers:preferences", kwargs={"token": token("preferences")}),
        "unsubscribe_path": reverse("subscribers:unsubscribe", kwargs={"token": token("unsubscribe")}),
        "export_path": reverse("subscribers:export", kwargs={"token": token("export")}),
        "erase_path": reverse("subscribers:erase", kwargs={"token": token("export")}),
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
            **request_evidence(request),
        )
        activate_reader_language(request, form.cleaned_data["language"])
        return render(
            request,
            "subscribers/self_service/preferences_saved.html",
            {"subscriber": subscriber, "outcome": outcome, **_self_service_links(subscriber)},
        )
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "subscribers/self_service/preferences.html",
        {"form": form, "subscriber": subscriber, **_self_service_links(subscriber)},
        status=status,
    )


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


def export_view(request, token):
    subscriber = _subscriber_or_404(request, token, "export")
    response = HttpResponse(
        json.dumps(gdpr.subscriber_export(subscriber=subscriber), indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="kanal-my-data.json"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def erase_view(request, token):
    subscriber = _subscriber_or_404(request, token, "export")
    if request.method == "GET":
        return render(request, "subscribers/self_service/erase_confirm.html", {"subscriber": subscriber})
    gdpr.subscriber_erase(subscriber=subscriber)
    return render(request, "subscribers/self_service/erased.html")
