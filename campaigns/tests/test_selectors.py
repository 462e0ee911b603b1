import pytest

from campaigns.selectors import campaign_audience
from campaigns.tests.factories import (
    CampaignFactory,
    MailingListFactory,
    SubscriberFactory,
    SubscriptionFactory,
    TagFactory,
)
from subscribers.models import Subscriber, Subscription

pytestmark = pytest.mark.django_db


def test_audience_is_active_subscribers_of_the_lists_once_each():
    news, offers, other = MailingListFactory(), MailingListFactory(), MailingListFactory()
    both = SubscriberFactory(email="both@example.org")
    SubscriptionFactory(subscriber=both, mailing_list=news)
    SubscriptionFactory(subscriber=both, mailing_list=offers)
    SubscriptionFactory(subscriber__email="news@example.org", mailing_list=news)
    SubscriptionFactory(subscriber__email="other@example.org", mailing_list=other)
    SubscriptionFactory(subscriber__email="pending@example.org", mailing_list=news, status=Subscription.Status.PENDING)
    SubscriptionFactory(
        subscriber__email="bounced@example.org", subscriber__status=Subscriber.Status.BOUNCED, mailing_list=news
    )
    campaign = CampaignFactory(mailing_lists=[news, offers])
    assert sorted(campaign_audience(campaign=campaign).values_list("email", flat=True)) == [
        "both@example.org",
        "news@example.org",
    ]


def test_audience_tag_filters_include_any_and_exclude_any():
    news = MailingListFactory()
    vip, press, berlin = TagFactory(name="vip"), TagFactory(name="press"), TagFactory(name="berlin")
    for email, tags in [
        ("vip@example.org", [vip]),
        ("berlin@example.org", [berlin]),
        ("vip-press@example.org", [vip, press]),
        ("none@example.org", []),
    ]:
        subscriber = SubscriptionFactory(subscriber__email=email, mailing_list=news).subscriber
        subscriber.tags.set(tags)
    campaign = CampaignFactory(mailing_lists=[news])
    campaign.include_tags.set([vip, berlin])
    campaign.exclude_tags.set([press])
    assert sorted(campaign_audience(campaign=campaign).values_list("email", flat=True)) == [
        "berlin@example.org",
        "vip@example.org",
    ]
    campaign.include_tags.clear()
    assert campaign_audience(campaign=campaign).count() == 3


def test_minimum_engagement_score_narrows_the_audience_in_the_same_query(django_assert_num_queries):
    from campaigns.models import Delivery
    from campaigns.services.sending import deliveries_snapshot
    from tracking.models import SubscriberEngagement

    news = MailingListFactory()
    scores = {"keen@example.org": 80, "edge@example.org": 50, "quiet@example.org": 10, "unscored@example.org": None}
    for email, score in scores.items():
        subscriber = SubscriptionFactory(subscriber__email=email, mailing_list=news).subscriber
        if score is not None:
            SubscriberEngagement.objects.create(subscriber=subscriber, score=score)
    campaign = CampaignFactory(mailing_lists=[news])
    assert campaign_audience(campaign=campaign).count() == 4, "no minimum: everyone"

    campaign.min_engagement_score = 50
    audience = campaign_audience(campaign=campaign)
    with django_assert_num_queries(1):
        emails = sorted(audience.values_list("email", flat=True))
    assert emails == ["edge@example.org", "keen@example.org"]

    assert deliveries_snapshot(campaign=campaign) == 2
    assert sorted(Delivery.objects.values_list("subscriber__email", flat=True)) == emails


def test_minimum_engagement_score_is_set_in_the_campaign_admin(admin_client):
    news = MailingListFactory()
    campaign = CampaignFactory(mailing_lists=[news])
    response = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    assert 'name="min_engagement_score"' in response.content.decode()
