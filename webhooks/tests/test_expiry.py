"""The webhook log keeps finished messages for KANAL_WEBHOOK_LOG_DAYS, and unfinished ones until they finish."""

from datetime import timedelta

import pytest
from django.utils import timezone

from webhooks import tasks
from webhooks.models import Delivery, Endpoint, Message
from webhooks.services import messages_expire

pytestmark = pytest.mark.django_db


def message(*, days_old: int, statuses: list[str]) -> Message:
    endpoints = [Endpoint.objects.create(url=f"https://crm{n}.example/hook") for n in range(len(statuses))]
    created = Message.objects.create(event_type="subscriber.confirmed", payload={"type": "subscriber.confirmed"})
    Message.objects.filter(pk=created.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    for endpoint, status in zip(endpoints, statuses, strict=True):
        Delivery.objects.create(message=created, endpoint=endpoint, status=status)
    return created


def test_finished_messages_older_than_the_log_days_go_with_their_deliveries(settings):
    settings.KANAL_WEBHOOK_LOG_DAYS = 30
    old_done = message(days_old=31, statuses=[Delivery.Status.SUCCEEDED, Delivery.Status.EXHAUSTED])
    old_retrying = message(days_old=31, statuses=[Delivery.Status.SUCCEEDED, Delivery.Status.FAILED])
    old_pending = message(days_old=40, statuses=[Delivery.Status.PENDING])
    recent_done = message(days_old=29, statuses=[Delivery.Status.SUCCEEDED])

    assert messages_expire(batch_size=1) == 1

    assert set(Message.objects.values_list("pk", flat=True)) == {old_retrying.pk, old_pending.pk, recent_done.pk}
    assert not Delivery.objects.filter(message_id=old_done.pk).exists()
    assert messages_expire() == 0, "nothing more to do"


def test_many_batches_remove_every_expired_message(settings):
    settings.KANAL_WEBHOOK_LOG_DAYS = 1
    for _ in range(5):
        message(days_old=2, statuses=[Delivery.Status.SUCCEEDED])
    assert messages_expire(batch_size=2) == 5
    assert not Message.objects.exists() and not Delivery.objects.exists()


def test_zero_days_keeps_the_log(settings):
    settings.KANAL_WEBHOOK_LOG_DAYS = 0
    message(days_old=400, statuses=[Delivery.Status.SUCCEEDED])
    assert messages_expire() == 0
    assert Message.objects.count() == 1


def test_beat_expires_the_log_hourly(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["webhooks-expire"]
    assert entry["task"] == tasks.expire_messages.name
    assert entry["schedule"] <= 3600
