import uuid
from collections.abc import Sequence
from datetime import datetime

import factory
from django.db.models import Max
from django.utils import timezone

from newsletter_site.bulk import db_value, insert_rows
from subscribers.models import ConsentText, MailingList, Subscriber, Subscription, Tag


class MailingListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MailingList

    name = factory.Sequence(lambda n: f"Newsletter {n}")
    slug = factory.Sequence(lambda n: f"newsletter-{n}")
    public_description = "Monthly news."
    language = "de"


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber

    email = factory.Sequence(lambda n: f"reader{n}@example.org")
    first_name = "Erika"
    last_name = "Mustermann"
    language = "de"
    status = Subscriber.Status.ACTIVE


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    subscriber = factory.SubFactory(SubscriberFactory)
    mailing_list = factory.SubFactory(MailingListFactory)
    status = Subscription.Status.ACTIVE


class ConsentTextFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentText

    version = factory.Sequence(lambda n: n + 1)
    language = "de"
    text = "Ja, ich möchte den Newsletter per E-Mail erhalten. Widerruf jederzeit per Link."


def bulk_active_subscribers(
    *,
    emails: Sequence[str],
    mailing_list: MailingList | None = None,
    first_names: Sequence[str] | None = None,
    tracking_consent: Sequence[bool] | bool = False,
    at: datetime | None = None,
) -> list[int]:
    """Thousands of confirmed subscribers (each with an active subscription to ``mailing_list``)
    in two bulk INSERTs, for the tests and benchmarks that need a big audience. Returns their ids."""
    at = at or timezone.now()
    consents = [tracking_consent] * len(emails) if isinstance(tracking_consent, bool) else tracking_consent
    names = first_names or [""] * len(emails)
    newest_before = Subscriber.objects.aggregate(newest=Max("pk"))["newest"] or 0
    insert_rows(
        Subscriber,
        columns=("email", "first_name", "tracking_consent", "public_id"),
        rows=[
            (email, name, consent, db_value(Subscriber, "public_id", uuid.uuid4()))
            for email, name, consent in zip(emails, names, consents, strict=True)
        ],
        constants={"last_name": "", "language": "de", "status": "active", "created_at": at, "updated_at": at},
    )
    ids = list(Subscriber.objects.filter(pk__gt=newest_before).order_by("pk").values_list("pk", flat=True))
    if mailing_list is not None:
        insert_rows(
            Subscription,
            columns=("subscriber",),
            rows=[(pk,) for pk in ids],
            constants={
                "mailing_list": mailing_list.pk,
                "status": "active",
                "confirmation_nonce": "",
                "created_at": at,
                "confirmed_at": at,
                "unsubscribed_at": None,
            },
        )
    return ids


def withdraw_tracking_consent(subscriber: Subscriber, *, wanted_lists: Sequence[MailingList] = ()) -> None:
    """What a reader does on the preference page: unticks tracking, keeping name, language and
    ``wanted_lists``."""
    from subscribers.services.preferences import subscriber_preferences_update

    subscriber_preferences_update(
        subscriber=subscriber,
        first_name=subscriber.first_name,
        last_name=subscriber.last_name,
        language=subscriber.language,
        tracking_consent=False,
        wanted_lists=list(wanted_lists),
    )
