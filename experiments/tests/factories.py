import itertools
from datetime import timedelta

from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory
from experiments.models import ABTest, Variant
from subscribers.tests.factories import bulk_active_subscribers

_audiences = itertools.count()


def campaign_with_readers(*, readers: int, tracking_consent: bool = True):
    """A draft newsletter with one article to a list of ``readers`` active subscribers."""
    news = MailingListFactory()
    audience = next(_audiences)
    campaign = CampaignFactory(mailing_lists=[news], subject="Neuigkeiten")
    ArticleFactory(campaign=campaign)
    bulk_active_subscribers(
        emails=[f"reader{index}@list{audience}.example.org" for index in range(readers)],
        mailing_list=news,
        tracking_consent=tracking_consent,
    )
    return campaign


def ab_test_for(campaign, *, subjects=("Neuigkeiten", "Das ist neu"), **fields) -> ABTest:
    fields = {"test_share": 50, "minimum_sample": 150, "duration": timedelta(hours=4), **fields}
    ab_test = ABTest.objects.create(campaign=campaign, **fields)
    for letter, subject in zip("ABCD", subjects, strict=False):
        Variant.objects.create(ab_test=ab_test, letter=letter, subject=subject)
    return ab_test
