import datetime

import factory

from digests.models import FeedSource
from subscribers.tests.factories import MailingListFactory


class FeedSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeedSource

    name = factory.Sequence(lambda n: f"Blog {n}")
    mailing_list = factory.SubFactory(MailingListFactory)
    url = "https://blog.example.org/feed.xml"
    subject = 'Neu im Blog, {{ subscriber.first_name|default:"Leserin" }}'
    frequency = FeedSource.Frequency.DAILY
    time_of_day = datetime.time(8, 0)


def rss(*items: dict) -> str:
    """An RSS 2.0 document with ``items`` (title, link, guid, description, pubDate as given)."""
    entries = "".join(
        "<item>" + "".join(f"<{key}>{value}</{key}>" for key, value in item.items()) + "</item>" for item in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Blog</title>'
        f"<link>https://blog.example.org/</link><description>Neues</description>{entries}</channel></rss>"
    )
