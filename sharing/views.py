"""The forward page and the share redirect, both reached from campaign mails and archive pages.

The forward page sends only on a POST by what looks like a person (tracking's machine rules),
within two rate limits: per forwarding delivery and per client address. A bad form comes back
with every field as typed and says what is wrong. The share redirect records every hit as tracking
records clicks, labelled when tracking's rules call it a machine (HEAD, scanners, no user agent),
and always redirects; only a person's share counts, and only a share from the links of the
sharer's own mail (a per-delivery token) names them.
"""

from django.conf import settings
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_safe
from django_ratelimit.core import is_ratelimited

from campaigns.models import Delivery
from campaigns.previews import archive_url
from newsletter_site.i18n import activate_reader_language
from sharing import referrals, selectors, services, tokens
from sharing.forms import ForwardForm
from sharing.models import Network
from sharing.networks import network_url, with_parameter
from tracking import machines
from tracking.models import Event


class _ShareRedirect(HttpResponseRedirect):
    allowed_schemes = ["http", "https", "mailto"]


def _not_found():
    raise Http404(_("This link is not valid. Please use the link from your mail."))


def machine_reason(request, *, sent_at=None) -> str:
    """Why this request looks like a machine rather than a person (tracking's rules), or ""."""
    return machines.label_single(
        kind=Event.Kind.CLICK,
        head=request.method == "HEAD",
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        occurred_at=timezone.now(),
        sent_at=sent_at,
        scanner_seconds=settings.KANAL_TRACKING_SCANNER_SECONDS,
    )


def _rate_limited(request, *, delivery_id: int) -> bool:
    limits = (
        ("forward-forwarder", lambda group, request: str(delivery_id), settings.KANAL_FORWARD_RATE_PER_FORWARDER),
        ("forward-ip", "ip", settings.KANAL_FORWARD_RATE_PER_IP),
    )
    limited = False
    for group, key, rate in limits:
        limited |= is_ratelimited(request, group=group, key=key, rate=rate, method="POST", increment=True)
    return limited


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def forward(request, token: str):
    """``/forward/<token>/``: send the campaign's web version to friends."""
    ids = tokens.verify_forward(token)
    if ids is None:
        _not_found()
    delivery_id, campaign_id = ids
    campaign = selectors.shared_campaign(campaign_id=campaign_id)
    if campaign is None:
        _not_found()
    activate_reader_language(request, campaign.language)
    context = {
        "campaign_title": selectors.campaign_title(campaign),
        "archive_url": archive_url(campaign),
        "post_url": request.path,
    }
    if request.method != "POST":
        if request.GET.get("sent"):
            return render(request, "sharing/forward_sent.html", context)
        return render(request, "sharing/forward.html", {**context, "form": ForwardForm()})
    form = ForwardForm(request.POST)
    if not form.is_valid():
        return render(request, "sharing/forward.html", {**context, "form": form}, status=400)
    sent_at = Delivery.objects.filter(pk=delivery_id).values_list("sent_at", flat=True).first()
    if machine_reason(request, sent_at=sent_at):
        return render(request, "sharing/forward.html", {**context, "form": form, "refused": True}, status=403)
    if _rate_limited(request, delivery_id=delivery_id):
        return render(request, "sharing/forward.html", {**context, "form": form, "rate_limited": True}, status=429)
    services.campaign_forward(
        campaign=campaign,
        delivery_id=delivery_id,
        forwarder_name=form.cleaned_data["name"],
        addresses=form.cleaned_data["addresses"],
    )
    return redirect(request.path + "?sent=1")


@never_cache
@require_safe
def share(request, token: str, network: str):
    """``/share/<token>/<network>/``: record the share (labelled if a machine's), then off to the network.

    Only the own-share token of a delivery's mail names a sharer (that delivery's subscriber); the
    campaign's share token names nobody, whatever rides on the URL. A referral token (``?ref=``)
    the source verifies is passed on to the archive page for the referral programme, nothing more.
    """
    own = tokens.verify_own_share(token)
    delivery_id, campaign_id = own if own is not None else (None, tokens.verify_share(token))
    if campaign_id is None or network not in Network.values:
        _not_found()
    campaign = selectors.shared_campaign(campaign_id=campaign_id)
    if campaign is None:
        _not_found()
    page = archive_url(campaign)
    source = referrals.referral_source()
    referral = request.GET.get(referrals.SHARE_PARAMETER, "")
    if referral and source is not None and source.verify(referral):
        page = with_parameter(page, source.parameter, referral)
    sent_at = (
        Delivery.objects.filter(pk=delivery_id, campaign=campaign).values_list("sent_at", flat=True).first()
        if delivery_id is not None
        else None
    )
    services.share_record(
        campaign=campaign,
        network=network,
        machine_reason=machine_reason(request, sent_at=sent_at),
        delivery_id=delivery_id,
    )
    return _ShareRedirect(network_url(network, url=page, title=selectors.campaign_title(campaign)))
