"""Campaigns with segments: the snapshot, broken segments, warnings, and the follow-up to non-openers."""

from email.utils import parseaddr

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.urls import reverse

from audience.selectors import segment_members
from audience.tests.factories import SegmentFactory, all_of, event, leaf, not_
from campaigns.models import Campaign, Delivery
from campaigns.selectors import campaign_audience, campaign_segment_warnings
from campaigns.services import lifecycle, sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, TagFactory
from subscribers.models import Subscriber
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory
from tracking.models import Event
from tracking.tests.factories import DeliveryFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def names(subscribers) -> set[str]:
    return {subscriber.email.split("@")[0] for subscriber in subscribers}


def recipients() -> list[str]:
    return sorted(parseaddr(message.to[0])[1] for message in mail.outbox)


def delivered(campaign) -> set[str]:
    return names(Subscriber.objects.filter(deliveries__campaign=campaign))


@pytest.fixture
def readers(news):
    """Six readers of News with consent (two tagged "de-nord"), one without, one on another list."""
    found = {}
    for name in ("anna", "ben", "cem", "dora", "emil", "fritz", "gerda"):
        found[name] = SubscriptionFactory(
            mailing_list=news,
            subscriber=SubscriberFactory(email=f"{name}@example.org", tracking_consent=name != "gerda"),
        ).subscriber
    found["hans"] = SubscriptionFactory(subscriber=SubscriberFactory(email="hans@example.org")).subscriber
    nord = TagFactory(name="de-nord")
    found["anna"].tags.add(nord)
    found["ben"].tags.add(nord)
    return found


def draft(news, **fields):
    campaign = CampaignFactory(mailing_lists=[news], **fields)
    ArticleFactory(campaign=campaign)
    return campaign


def start(campaign, django_capture_on_commit_callbacks):
    """Snapshot, then send every batch here (the queued tasks would do the same in a worker)."""
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass


def test_the_snapshot_of_a_segmented_campaign_equals_the_segment_members_within_the_lists(
    news, readers, django_capture_on_commit_callbacks
):
    earlier = CampaignFactory()
    for name in ("anna", "cem", "dora", "gerda", "hans"):
        event(DeliveryFactory(campaign=earlier, subscriber=readers[name]), Event.Kind.OPEN)
    segment = SegmentFactory(
        rules=all_of(
            leaf("opened_campaign", campaign=earlier.pk), not_(leaf("tags", tags=[readers["anna"].tags.get().pk]))
        )
    )
    excluded = SegmentFactory(rules=leaf("language", language="en"))
    Subscriber.objects.filter(pk=readers["dora"].pk).update(language="en")
    campaign = draft(news, segment=segment, exclusion_segment=excluded)

    expected = names(segment_members(segment).filter(subscriptions__mailing_list=news)) - names(
        segment_members(excluded)
    )
    assert expected == {"cem"}  # anna is tagged, dora speaks English, gerda gave no consent, hans is elsewhere
    start(campaign, django_capture_on_commit_callbacks)
    assert delivered(campaign) == expected
    assert recipients() == ["cem@example.org"]


def test_the_audience_stays_one_query(news, readers, django_assert_num_queries):
    segment = SegmentFactory(rules=leaf("tracking_consent", consent=True))
    campaign = draft(news, segment=segment)
    audience = campaign_audience(campaign=campaign)
    with django_assert_num_queries(1):
        assert audience.count() == 6


def test_a_segment_naming_a_deleted_list_keeps_the_campaign_from_sending(news, readers, admin_client):
    gone = MailingListFactory()
    campaign = draft(news, segment=SegmentFactory(name="Nordlichter", rules=leaf("lists", lists=[gone.pk])))
    gone_pk = gone.pk
    gone.delete()
    with pytest.raises(ValidationError) as refused:
        sending.campaign_start(campaign=campaign)
    assert "Segment “Nordlichter”" in refused.value.messages[0] and f"#{gone_pk}" in refused.value.messages[0]

    response = admin_client.post(reverse("admin:campaigns_campaign_send_now", args=[campaign.pk]), follow=True)
    assert "no longer exists" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT
    assert not Delivery.objects.filter(campaign=campaign).exists()
    assert mail.outbox == []


def test_a_segment_naming_a_deleted_campaign_keeps_a_scheduled_campaign_from_starting(news, readers):
    earlier = CampaignFactory()
    campaign = draft(news, exclusion_segment=SegmentFactory(rules=leaf("clicked_campaign", campaign=earlier.pk)))
    earlier.delete()
    with pytest.raises(ValidationError, match="no longer exists"):
        lifecycle.campaign_check_ready(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SCHEDULED, scheduled_at="2020-01-01T00:00Z")
    assert sending.campaigns_start_due() == 0
    assert not Delivery.objects.filter(campaign=campaign).exists()


def test_a_segment_in_use_cannot_be_deleted(news):
    segment = SegmentFactory()
    draft(news, segment=segment)
    with pytest.raises(ProtectedError):
        segment.delete()


def test_staff_are_told_when_a_segment_filters_nothing_or_leaves_people_out_for_lack_of_consent(news, readers):
    earlier = CampaignFactory()
    campaign = draft(news, segment=SegmentFactory(name="Alle", rules=leaf("status", status="active")))
    assert "filters nothing" in campaign_segment_warnings(campaign=campaign)[0]
    campaign.segment = SegmentFactory(rules=leaf("not_opened_campaign", campaign=earlier.pk))
    assert campaign_segment_warnings(campaign=campaign) == [
        "1 subscriber of the lists is left out because the segment reads behaviour or answers they did not "
        "consent to being tracked for."
    ]
    campaign.segment = None
    campaign.exclusion_segment = SegmentFactory(name="Alle", rules=all_of())
    assert "leaves out everybody" in campaign_segment_warnings(campaign=campaign)[0]


def test_duplicating_keeps_the_segments(news):
    segment, excluded = SegmentFactory(), SegmentFactory()
    copy = lifecycle.campaign_duplicate(campaign=draft(news, segment=segment, exclusion_segment=excluded))
    assert (copy.segment, copy.exclusion_segment) == (segment, excluded)


def test_the_follow_up_to_non_openers_counts_only_peoples_opens(news, readers, django_capture_on_commit_callbacks):
    first = draft(news, subject="Unser Angebot")
    start(first, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert first.status == Campaign.Status.SENT
    deliveries = {d.subscriber.email.split("@")[0]: d for d in Delivery.objects.filter(campaign=first)}
    event(deliveries["anna"], Event.Kind.OPEN)
    event(deliveries["ben"], Event.Kind.CLICK)
    event(deliveries["cem"], Event.Kind.OPEN, machine=True)  # an image proxy, not cem
    event(deliveries["dora"], Event.Kind.CLICK, machine=True)  # a link scanner
    mail.outbox.clear()
    SubscriberFactory(email="late@example.org")  # joined later: never got the first one
    SubscriptionFactory(mailing_list=news, subscriber=Subscriber.objects.get(email="late@example.org"))

    follow_up = lifecycle.campaign_follow_up(
        campaign=first, reaction=lifecycle.FollowUp.NOT_OPENED, subject="Noch einmal: unser Angebot"
    )
    assert follow_up.status == Campaign.Status.DRAFT and follow_up.subject == "Noch einmal: unser Angebot"
    assert follow_up.articles.count() == first.articles.count()
    start(follow_up, django_capture_on_commit_callbacks)
    # Machine opens are not opens; gerda gave no consent, so whether she opened is unknown: left out.
    assert delivered(follow_up) == {"cem", "dora", "emil", "fritz"}
    assert recipients() == ["cem@example.org", "dora@example.org", "emil@example.org", "fritz@example.org"]

    not_clicked = lifecycle.campaign_follow_up(
        campaign=first, reaction=lifecycle.FollowUp.NOT_CLICKED, subject="Noch einmal"
    )
    assert names(campaign_audience(campaign=not_clicked)) == {"anna", "cem", "dora", "emil", "fritz"}


def test_only_a_sent_campaign_gets_a_follow_up(news):
    with pytest.raises(lifecycle.CampaignStateError):
        lifecycle.campaign_follow_up(campaign=draft(news), reaction="not_opened", subject="Noch einmal")


def test_the_campaign_page_says_before_sending_that_the_segment_filters_nothing(news, readers, admin_client):
    campaign = draft(news, segment=SegmentFactory(name="Alle", rules=leaf("status", status="active")))
    page = admin_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    assert 'id="segment-notes"' in page
    assert "The segment “Alle” takes every subscriber the lists reach: it filters nothing." in page
