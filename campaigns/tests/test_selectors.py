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
