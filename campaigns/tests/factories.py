import factory

from campaigns.models import Article, Campaign
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, TagFactory

__all__ = [
    "ArticleFactory",
    "CampaignFactory",
    "MailingListFactory",
    "SubscriberFactory",
    "SubscriptionFactory",
    "TagFactory",
    "subscribe",
    "with_reader",
]


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Campaign {n}")
    subject = 'Neues für {{ subscriber.first_name|default:"Leserin" }}'
    preheader = "Die Themen dieser Woche"
    from_name = "Kanal"
    from_email = "news@example.com"
    language = "de"

    @factory.post_generation
    def mailing_lists(self, create, extracted, **kwargs):
        if create:
            self.mailing_lists.set(extracted if extracted is not None else [MailingListFactory()])


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Article

    campaign = factory.SubFactory(CampaignFactory)
    position = factory.Sequence(lambda n: n)
    headline = factory.Sequence(lambda n: f"Headline {n}")
    body = "Some **news** with [a link](https://example.org/more)."
    link_url = factory.Sequence(lambda n: f"https://example.org/article-{n}")
    cta_text = "Weiterlesen"


def with_reader(campaign: Campaign) -> Campaign:
    """The campaign with one active subscriber on its first list: an empty audience blocks sending."""
    SubscriptionFactory(mailing_list=campaign.mailing_lists.order_by("pk").first())
    return campaign


def subscribe(mailing_list, count, **subscriber_fields):
    """``count`` new active subscribers of ``mailing_list``."""
    return [
        SubscriptionFactory(mailing_list=mailing_list, subscriber=SubscriberFactory(**subscriber_fields)).subscriber
        for _ in range(count)
    ]
