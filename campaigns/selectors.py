import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from audience.models import Segment
from audience.rules import SegmentError
from audience.selectors import segment_count, segment_members, segment_problems, segment_q
from campaigns.models import Campaign, Delivery, FrequencyCap
from campaigns.services.transports.ledger import HEARTBEAT_EVERY
from subscribers.models import MailingList, Subscriber, Subscription

logger = logging.getLogger(__name__)

WAITING = (Delivery.Status.QUEUED, Delivery.Status.SENDING)


def list_archive(*, mailing_list: MailingList) -> QuerySet[Campaign]:
    """A list's public archive, newest first: its newsletters marked "public archive page" that went out.
    The front page, the archive index and the list's feeds all show exactly these."""
    return Campaign.objects.filter(
        mailing_lists=mailing_list,
        kind=Campaign.Kind.NEWSLETTER,
        archive_enabled=True,
        status__in=Campaign.ARCHIVED_STATUSES,
    ).order_by("-started_at", "-pk")


def campaign_list_audience(*, campaign: Campaign) -> QuerySet[Subscriber]:
    """Subscribers the campaign's lists, tags and score reach, before its segments: active, with an
    active subscription to any of its lists, having any of its include tags (when it has some) and
    none of its exclude tags, and at least the campaign's minimum engagement score when it sets one."""
    list_ids = list(campaign.mailing_lists.values_list("pk", flat=True))
    include_ids = list(campaign.include_tags.values_list("pk", flat=True))
    exclude_ids = list(campaign.exclude_tags.values_list("pk", flat=True))
    subscribed = Subscription.objects.filter(
        subscriber=OuterRef("pk"), mailing_list_id__in=list_ids, status=Subscription.Status.ACTIVE
    )
    audience = Subscriber.objects.filter(Exists(subscribed), status=Subscriber.Status.ACTIVE)
    if include_ids:
        audience = audience.filter(
            Exists(Subscriber.tags.through.objects.filter(subscriber=OuterRef("pk"), tag_id__in=include_ids))
        )
    if exclude_ids:
        audience = audience.exclude(
            Exists(Subscriber.tags.through.objects.filter(subscriber=OuterRef("pk"), tag_id__in=exclude_ids))
        )
    if campaign.min_engagement_score:
        # A join on the score table (tracking app): subscribers without a score are left out.
        audience = audience.filter(engagement__score__gte=campaign.min_engagement_score)
    return audience


def campaign_audience(*, campaign: Campaign) -> QuerySet[Subscriber]:
    """Subscribers the campaign targets right now: its lists, tags and score
    (``campaign_list_audience``), within its segment when it has one, minus its exclusion segment.

    Each subscriber appears once, and the whole audience is one SQL query (segments compile to
    ``Exists`` subqueries). A segment whose rules have problems raises ``SegmentError``:
    ``campaign_check_ready`` refuses such a campaign before anything is sent. Suppressed
    addresses are kept as hashes in another table and are not filtered here; the delivery
    snapshot must leave them out as well.
    """
    audience = campaign_list_audience(campaign=campaign)
    if campaign.segment_id:
        audience = audience.filter(segment_q(campaign.segment))
    if campaign.exclusion_segment_id:
        audience = audience.exclude(segment_q(campaign.exclusion_segment))
    return audience


def campaign_segment_problems(*, campaign: Campaign) -> list[str]:
    """What keeps the campaign's segments from being used, each problem naming its segment."""
    problems = []
    for segment in (campaign.segment, campaign.exclusion_segment):
        if segment is not None:
            problems += [
                _("Segment “%(name)s”: %(problem)s") % {"name": segment.name, "problem": problem}
                for problem in segment_problems(segment)
            ]
    return problems


def campaign_segment_warnings(*, campaign: Campaign) -> list[str]:
    """What staff should know before sending a segmented campaign: a segment that filters nothing,
    an exclusion that leaves nobody, subscribers left out because the segment reads behaviour or
    answers they did not consent to, recipients whom no article would reach when every article is
    for a segment. Empty for a campaign without segments or with broken ones."""
    if campaign_segment_problems(campaign=campaign) or campaign_article_segment_problems(campaign=campaign):
        return []
    warnings = _articleless_recipients_warning(campaign)
    if not (campaign.segment_id or campaign.exclusion_segment_id):
        return warnings
    reach = campaign_list_audience(campaign=campaign)
    if campaign.segment_id:
        figures = segment_count(campaign.segment, base=reach)
        if figures["total"] and figures["matches_everyone"]:
            warnings.append(
                _("The segment “%(name)s” takes every subscriber the lists reach: it filters nothing.")
                % {"name": campaign.segment.name}
            )
        if figures["left_out_for_consent"]:
            warnings.append(
                ngettext(
                    "%(count)d subscriber of the lists is left out because the segment reads behaviour or "
                    "answers they did not consent to being tracked for.",
                    "%(count)d subscribers of the lists are left out because the segment reads behaviour or "
                    "answers they did not consent to being tracked for.",
                    figures["left_out_for_consent"],
                )
                % {"count": figures["left_out_for_consent"]}
            )
        reach = reach.filter(segment_q(campaign.segment))
    if campaign.exclusion_segment_id:
        figures = segment_count(campaign.exclusion_segment, base=reach)
        if figures["total"] and figures["matches_everyone"]:
            warnings.append(
                _("The exclusion segment “%(name)s” leaves out everybody: nobody would get this campaign.")
                % {"name": campaign.exclusion_segment.name}
            )
    return warnings


def _articleless_recipients_warning(campaign: Campaign) -> list[str]:
    """When every article is for a segment: how many recipients are in none of those segments (one count)."""
    articles = list(campaign.articles.select_related("segment"))
    if not articles or any(article.segment_id is None for article in articles):
        return []
    in_some_segment = Q(pk__in=[])
    for segment in {article.segment for article in articles}:
        in_some_segment |= segment_q(segment)
    count = campaign_audience(campaign=campaign).exclude(in_some_segment).count()
    if not count:
        return []
    return [
        ngettext(
            "Every article is for a segment, and %(count)d recipient is in none of them: they would get "
            "this campaign without any article.",
            "Every article is for a segment, and %(count)d recipients are in none of them: they would get "
            "this campaign without any article.",
            count,
        )
        % {"count": count}
    ]


def articles_visible_to(
    *, conditional: Mapping[int, int], subscriber_ids: Collection[int]
) -> dict[int, frozenset[int]]:
    """Which conditional articles (``{article id: segment id}``) each of these subscribers sees:
    those whose segment takes them now. Subscribers who see the same articles share one frozenset.

    One query per segment, restricted to these subscribers (a sending batch), never a loop over
    subscribers. The segment decides consent as everywhere: unknown is not a member. A segment
    whose rules broke after the campaign started shows its articles to nobody rather than guess.
    """
    members: dict[int, set[int]] = {}
    ids = list(subscriber_ids)
    for segment in Segment.objects.filter(pk__in=set(conditional.values())):
        try:
            members[segment.pk] = set(
                segment_members(segment, base=Subscriber.objects.filter(pk__in=ids)).values_list("pk", flat=True)
            )
        except SegmentError:
            logger.warning("Segment %s is broken: its conditional articles are shown to nobody", segment.pk)
    shared: dict[tuple[int, ...], frozenset[int]] = {}
    visible = {}
    for subscriber_id in ids:
        key = tuple(article for article, segment in conditional.items() if subscriber_id in members.get(segment, ()))
        visible[subscriber_id] = shared.setdefault(key, frozenset(key))
    return visible


def campaign_article_segment_problems(*, campaign: Campaign) -> list[str]:
    """What keeps the segments of the campaign's conditional articles from being used, naming the article."""
    problems = []
    for article in campaign.articles.filter(segment__isnull=False).select_related("segment"):
        problems += [
            _("Article “%(headline)s”, segment “%(name)s”: %(problem)s")
            % {"headline": article.headline, "name": article.segment.name, "problem": problem}
            for problem in segment_problems(article.segment)
        ]
    return problems


def deliveries_for_export(subscriber: Subscriber) -> tuple[str, list[dict]]:
    """The campaigns sent to a subscriber, for their GDPR export."""
    from campaigns.models import Delivery

    deliveries = Delivery.objects.filter(subscriber=subscriber).select_related("campaign").order_by("pk")
    return "campaigns_received", [
        {
            "campaign": delivery.campaign.name,
            "subject": delivery.campaign.subject,
            "status": delivery.status,
            "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
        }
        for delivery in deliveries
    ]


def deliveries_due_q(*, now: datetime) -> Q:
    """Deliveries a sender may claim at ``now``: those without a due time and those due by then."""
    return Q(due_at__isnull=True) | Q(due_at__lte=now)


def campaign_next_due_at(*, campaign_id: int, now: datetime) -> datetime | None:
    """When the campaign's first delivery queued for later (due after ``now``) is due."""
    return (
        Delivery.objects.filter(campaign_id=campaign_id, status=Delivery.Status.QUEUED, due_at__gt=now)
        .order_by()
        .aggregate(next_due_at=Min("due_at"))["next_due_at"]
    )


def campaign_only_due_later(*, campaign_id: int, now: datetime) -> bool:
    """Nothing to send or in flight now, only deliveries queued for later: no sender has work yet."""
    figures = Delivery.objects.filter(campaign_id=campaign_id, status__in=WAITING).aggregate(
        later=Count("pk", filter=Q(status=Delivery.Status.QUEUED, due_at__gt=now)),
        waiting=Count("pk"),
    )
    return figures["later"] > 0 and figures["later"] == figures["waiting"]


def campaign_delivery_figures(*, campaign: Campaign, now: datetime | None = None) -> dict:
    """One pass over the campaign's deliveries: counts per status, those queued for later (and when the
    next is due), the last claim and send, and the last moment a delivery queued for later became due."""
    now = now or timezone.now()
    later = Q(status=Delivery.Status.QUEUED, due_at__gt=now)
    return Delivery.objects.filter(campaign=campaign).aggregate(
        total=Count("pk"),
        queued=Count("pk", filter=Q(status=Delivery.Status.QUEUED)),
        sending=Count("pk", filter=Q(status=Delivery.Status.SENDING)),
        sent=Count("pk", filter=Q(status=Delivery.Status.SENT)),
        failed=Count("pk", filter=Q(status=Delivery.Status.FAILED)),
        skipped=Count("pk", filter=Q(status=Delivery.Status.SKIPPED)),
        withdrawn=Count("pk", filter=Q(status=Delivery.Status.WITHDRAWN)),
        due_later=Count("pk", filter=later),
        next_due_at=Min("due_at", filter=later),
        last_due_at=Max("due_at", filter=Q(status=Delivery.Status.QUEUED, due_at__lte=now)),
        last_claimed_at=Max("claimed_at"),
        last_sent_at=Max("sent_at"),
    )


def _mails_toward_cap(*, since: datetime) -> QuerySet[Delivery]:
    """The mails of ``OuterRef("pk")`` (a subscriber) that count toward a cap whose window starts at
    ``since``: sent since then, or queued or in flight (about to be sent), of campaigns that do not
    bypass the cap. Skipped and failed deliveries never count.

    Only ``sent_at`` (set when a mail is sent, empty until then) tells the two arms apart, so each
    is one range of the (subscriber, sent_at) index; a status condition inside an arm would let
    PostgreSQL read that arm from the (status, claimed_at) index instead, every queued row of a
    running campaign for every subscriber."""
    subscriber = OuterRef("pk")
    return Delivery.objects.filter(
        Q(subscriber=subscriber, sent_at__gte=since) | Q(subscriber=subscriber, sent_at__isnull=True),
        status__in=(Delivery.Status.SENT, *WAITING),
        campaign__bypasses_frequency_cap=False,
    ).order_by()


def subscribers_over_frequency_cap_q(*, now: datetime | None = None) -> Q | None:
    """For ``Subscriber`` querysets: whoever has reached any frequency cap, as ``Exists`` subqueries
    (one per cap: "the cap's n-th counted mail exists", which stops reading after n rows and never
    reads a subscriber's older mails). None when no cap is set."""
    now = now or timezone.now()
    over = None
    for cap in FrequencyCap.objects.all():
        counted = _mails_toward_cap(since=now - cap.window).values("pk")[cap.max_mails - 1 : cap.max_mails]
        over = Exists(counted) if over is None else over | Exists(counted)
    return None if over is None else Q(over)


def subscribers_over_frequency_cap(subscriber_ids: Collection[int], *, now: datetime | None = None) -> set[int]:
    """Which of these subscribers may get no more capped mail now: one query (none without caps)."""
    over = subscribers_over_frequency_cap_q(now=now)
    if over is None or not subscriber_ids:
        return set()
    return set(Subscriber.objects.filter(over, pk__in=list(subscriber_ids)).values_list("pk", flat=True))


def send_stall_seconds() -> float:
    """How long a sending campaign may go without a claim or a send before it counts as stalled:
    KANAL_SEND_STALL_SECONDS, but never less than the longest quiet time of a healthy batch.

    A working batch writes ``sent_at`` for every message, at least once per 1/rate seconds. A
    rate-limited batch whose messages all fail writes only its claim renewal, every
    KANAL_SEND_STALE_SECONDS / 4 at the next heartbeat. An ESP batch call writes nothing until
    the call returns, after waiting for a rate slot per recipient, and the parallel batches of a
    campaign share that rate.
    """
    rate = settings.KANAL_SEND_RATE_PER_SECOND
    quiet = 0.0
    if rate:
        quiet = settings.KANAL_SEND_STALE_SECONDS / 4 + HEARTBEAT_EVERY / rate
        if settings.KANAL_ESP_MERGE_FIELD_FORMAT:
            per_call = min(settings.KANAL_ESP_BATCH_SIZE, settings.KANAL_SEND_BATCH_SIZE)
            quiet = max(quiet, settings.KANAL_SEND_PARALLEL_BATCHES * per_call / rate)
    return max(float(settings.KANAL_SEND_STALL_SECONDS), quiet)


@dataclass(frozen=True)
class Stall:
    """A sending campaign with messages waiting that no worker has touched for a while."""

    campaign: Campaign
    last_activity: datetime
    idle_seconds: int
    waiting: int

    def message(self) -> str:
        text = ngettext(
            "No worker has sent anything for %(idle)s although %(count)d message is waiting. "
            "Check that the Celery worker and beat are running (see docs/operations.md).",
            "No worker has sent anything for %(idle)s although %(count)d messages are waiting. "
            "Check that the Celery worker and beat are running (see docs/operations.md).",
            self.waiting,
        )
        now = self.last_activity + timedelta(seconds=self.idle_seconds)
        return text % {"idle": timesince(self.last_activity, now), "count": self.waiting}


def _stall(
    campaign: Campaign,
    *,
    waiting: int,
    last_claimed_at: datetime | None,
    last_sent_at: datetime | None,
    now: datetime,
    last_due_at: datetime | None = None,
) -> Stall | None:
    """The one rule: sending, messages waiting (due now: those queued for later wait by design), and
    the last claim, send, start or resume (both save the campaign), or the moment the last waiting
    delivery became due, longer ago than ``send_stall_seconds``. Paused campaigns never stall."""
    if campaign.status != Campaign.Status.SENDING or not waiting:
        return None
    moments = (last_claimed_at, last_sent_at, campaign.updated_at, last_due_at)
    last_activity = max(moment for moment in moments if moment)
    idle = (now - last_activity).total_seconds()
    if idle <= send_stall_seconds():
        return None
    return Stall(campaign=campaign, last_activity=last_activity, idle_seconds=int(idle), waiting=waiting)


def campaign_stall(*, campaign: Campaign, figures: dict | None = None, now: datetime | None = None) -> Stall | None:
    """Whether this campaign is stalled; ``figures`` from ``campaign_delivery_figures`` saves a query."""
    if campaign.status != Campaign.Status.SENDING:
        return None
    now = now or timezone.now()
    if figures is None:
        figures = campaign_delivery_figures(campaign=campaign, now=now)
    return _stall(
        campaign,
        waiting=figures["queued"] - figures["due_later"] + figures["sending"],
        last_claimed_at=figures["last_claimed_at"],
        last_sent_at=figures["last_sent_at"],
        last_due_at=figures["last_due_at"],
        now=now,
    )


def campaigns_stalled(*, now: datetime | None = None) -> list[Stall]:
    """Every stalled campaign, oldest activity first.

    The first query keeps only sending campaigns with a message waiting and no live claim younger
    than the threshold (index seeks on (campaign, status) and (status, claimed_at)); a healthy
    batch renews its claims within the threshold, so this is usually empty. Only those left get
    the full pass over their deliveries.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=send_stall_seconds())
    waiting_now = Q(status=Delivery.Status.SENDING) | Q(deliveries_due_q(now=now), status=Delivery.Status.QUEUED)
    waiting = Delivery.objects.filter(waiting_now, campaign=OuterRef("pk"))
    live_claim = Delivery.objects.filter(
        campaign=OuterRef("pk"), status=Delivery.Status.SENDING, claimed_at__gte=cutoff
    )
    candidates = {
        campaign.pk: campaign
        for campaign in Campaign.objects.filter(status=Campaign.Status.SENDING, updated_at__lt=cutoff)
        .order_by()
        .filter(Exists(waiting))
        .exclude(Exists(live_claim))
    }
    if not candidates:
        return []
    rows = (
        Delivery.objects.filter(campaign_id__in=candidates)
        .values("campaign_id")
        .order_by()
        .annotate(
            waiting=Count("pk", filter=waiting_now),
            last_claimed_at=Max("claimed_at"),
            last_sent_at=Max("sent_at"),
            last_due_at=Max("due_at", filter=Q(status=Delivery.Status.QUEUED, due_at__lte=now)),
        )
    )
    stalls = [
        _stall(
            candidates[row["campaign_id"]],
            waiting=row["waiting"],
            last_claimed_at=row["last_claimed_at"],
            last_sent_at=row["last_sent_at"],
            last_due_at=row["last_due_at"],
            now=now,
        )
        for row in rows
    ]
    return sorted((stall for stall in stalls if stall), key=lambda stall: stall.last_activity)
