"""The referral link, the visit count it leads to, and the staff page."""

import itertools

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST
from django_ratelimit.core import is_ratelimited

from newsletter_site.csv_export import csv_response
from newsletter_site.permissions import has_staff_permissions, staff_permission_required
from referrals import selectors, services, tokens
from subscribers.models import MailingList, Subscriber
from subscribers.tokens import InvalidToken


def _link_or_404(token: str):
    """(referrer, list) of a referral token, or 404 for a forged, revoked or stale one."""
    try:
        link = tokens.read_referral_token(token)
    except InvalidToken as error:
        raise Http404(_("This invitation link is not valid.")) from error
    referrer = Subscriber.objects.filter(public_id=link.public_id, token_version=link.token_version).first()
    mailing_list = MailingList.objects.filter(pk=link.mailing_list_id, is_public=True).first()
    if referrer is None or mailing_list is None:
        raise Http404(_("This invitation link is not valid."))
    return referrer, mailing_list


@require_GET
def referral_link(request, token):
    """Leads to the list's sign-up page with the referral in its form; stores nothing."""
    _referrer, mailing_list = _link_or_404(token)
    url = reverse("subscribers:subscribe", kwargs={"slug": mailing_list.slug})
    return redirect(f"{url}?{urlencode({'ref': token})}")


@require_POST
def referral_visit(request):
    """One visit of a referral link, posted by the sign-up page (referrals/static/referrals/visit.js)."""
    if is_ratelimited(
        request, group="referral-visit", key="ip", rate=settings.KANAL_SIGNUP_RATE_PER_IP, method="POST", increment=True
    ):
        return HttpResponse(status=429)
    try:
        referrer, mailing_list = _link_or_404(request.POST.get("ref", "")[:500])
    except Http404:
        return HttpResponse(status=400)
    services.referral_visit_count(referrer=referrer, mailing_list=mailing_list)
    return HttpResponse(status=204)


def _list(request) -> MailingList | None:
    value = request.GET.get("list", "")
    if not value:
        return None
    if not value.isdigit():
        raise Http404(_("There is no such list."))
    return get_object_or_404(MailingList, pk=int(value))


@staff_permission_required("referrals.view_referral")
def referral_analytics(request):
    mailing_list = _list(request)
    show_addresses = has_staff_permissions(request.user, "subscribers.view_subscriber")
    return render(
        request,
        "referrals/analytics.html",
        {
            "mailing_list": mailing_list,
            "mailing_lists": MailingList.objects.order_by("name"),
            "funnel": selectors.referral_funnel(mailing_list=mailing_list),
            "top": selectors.top_referrers(mailing_list=mailing_list),
            "growth": selectors.referral_growth_share(mailing_list=mailing_list),
            "show_addresses": show_addresses,
            "csv_query": request.GET.urlencode(),
        },
    )


@staff_permission_required("referrals.view_referral")
def referral_growth_csv(request):
    rows = selectors.referral_growth_share(mailing_list=_list(request), months=60)
    header = [_("month"), _("confirmed sign-ups"), _("through referrals"), _("share (%)")]
    body = ([row["month"].isoformat(), row["confirmed"], row["referred"], row["share"]] for row in rows)
    return csv_response(itertools.chain([header], body), filename="referral-growth.csv")
