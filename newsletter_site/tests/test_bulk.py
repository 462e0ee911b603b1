import uuid

import pytest
from django.utils import timezone

from newsletter_site import bulk
from subscribers.models import Subscriber, Tag

pytestmark = pytest.mark.django_db


def test_rows_beyond_one_statement_all_arrive_and_are_counted():
    names = [f"tag-{n:05d}" for n in range(2 * bulk.PG_ROWS_PER_STATEMENT + 500)]
    assert bulk.insert_rows(Tag, columns=["name"], rows=[(name,) for name in names]) == len(names)
    assert sorted(Tag.objects.values_list("name", flat=True)) == names


def test_conflicting_rows_are_skipped_and_only_the_new_ones_counted():
    Tag.objects.bulk_create(Tag(name=f"tag-{n:05d}") for n in range(0, 3000, 2))
    rows = [(f"tag-{n:05d}",) for n in range(3000)]
    assert bulk.insert_rows(Tag, columns=["name"], rows=rows, ignore_conflicts=True) == 1500
    assert Tag.objects.count() == 3000


def test_constants_go_into_every_row_prepared_for_the_database():
    rows = [(f"r{n}@example.org",) for n in range(1200)]
    constants = {"status": Subscriber.Status.ACTIVE, "language": "de", "tracking_consent": True}
    rows = [(email, bulk.db_value(Subscriber, "public_id", uuid.uuid4())) for (email,) in rows]
    now = timezone.now()
    constants |= {"first_name": "", "last_name": "", "created_at": now, "updated_at": now}
    assert bulk.insert_rows(Subscriber, columns=["email", "public_id"], rows=rows, constants=constants) == 1200
    assert set(Subscriber.objects.values_list("status", "language", "tracking_consent")) == {("active", "de", True)}
    assert Subscriber.objects.filter(created_at=now).count() == 1200


def test_any_of_finds_the_rows_with_one_of_the_values_of_any_field_kind():
    tags = Tag.objects.bulk_create(Tag(name=f"tag-{n}") for n in range(1200))
    wanted = [tag.pk for tag in tags[::3]]
    assert sorted(Tag.objects.filter(pk__any_of=wanted).values_list("pk", flat=True)) == wanted
    assert set(Tag.objects.filter(name__any_of=["tag-1", "tag-7", "nope"]).values_list("name", flat=True)) == {
        "tag-1",
        "tag-7",
    }
    assert not Tag.objects.filter(pk__any_of=[]).exists()
    assert Tag.objects.exclude(pk__any_of=wanted).count() == 1200 - len(wanted)


def test_update_rows_writes_each_rows_values_by_primary_key_across_statements():
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from sendtime.models import SendTimeProfile
    from subscribers.tests.factories import SubscriberFactory

    readers = SubscriberFactory.create_batch(3)
    profiles = [SendTimeProfile.objects.create(subscriber=reader) for reader in readers]
    berlin = timezone.now().astimezone(ZoneInfo("Europe/Berlin"))
    rows = [
        (profile.pk, [float(n)] * 24, [n + 0.5] * 7, n * 1.25, berlin - timedelta(hours=n))
        for n, profile in enumerate(profiles)
    ]

    assert (
        bulk.update_rows(
            SendTimeProfile, fields=("hour_weights", "weekday_weights", "total_weight", "updated_at"), rows=rows
        )
        == 3
    )
    for (pk, hours, weekdays, total, updated_at), profile in zip(rows, profiles, strict=True):
        profile.refresh_from_db()
        assert (profile.pk, profile.hour_weights, profile.weekday_weights, profile.total_weight) == (
            pk,
            hours,
            weekdays,
            total,
        )
        assert profile.updated_at == updated_at
    assert bulk.update_rows(SendTimeProfile, fields=("total_weight",), rows=[]) == 0

    tags = Tag.objects.bulk_create(Tag(name=f"tag-{n:05d}") for n in range(bulk.PG_ROWS_PER_STATEMENT + 10))
    renamed = [(tag.pk, f"renamed-{tag.pk}") for tag in tags[::2]]
    assert bulk.update_rows(Tag, fields=("name",), rows=renamed) == len(renamed)
    assert Tag.objects.filter(name__startswith="renamed-").count() == len(renamed)
    assert Tag.objects.get(pk=tags[1].pk).name == "tag-00001"
