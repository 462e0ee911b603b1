"""Sending per endpoint in claimed batches: kept-alive connections, a connection lost mid-batch,
two workers at once."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from webhooks import services, tasks
from webhooks.models import Delivery, Endpoint, Message


def publish(count: int) -> list[str]:
    with transaction.atomic():
        messages = [
            services.event_publish(event_type="subscriber.confirmed", data={"subscriber": {"n": n}})
            for n in range(count)
        ]
    return [message.message_id for message in messages]


def received_ids(receiver) -> list[str]:
    return [request["headers"]["webhook-id"] for request in receiver.requests]


@pytest.fixture
def queued(monkeypatch):
    tasks = []
    monkeypatch.setattr(services, "_enqueue", lambda ids, countdown=0: tasks.append((list(ids), countdown)))
    return tasks


@pytest.mark.django_db
@pytest.mark.parametrize("connections", [1, 2])
def test_many_deliveries_go_over_the_configured_kept_alive_connections(
    endpoint, receiver, loopback_allowed, settings, queued, connections, django_capture_on_commit_callbacks
):
    settings.KANAL_WEBHOOK_CONNECTIONS = connections
    with django_capture_on_commit_callbacks(execute=True):
        message_ids = publish(250)  # three batches
    assert queued == [([endpoint.pk], 0)]  # one task for the endpoint, however many events

    assert services.endpoint_deliver(endpoint_id=endpoint.pk) == 250

    assert receiver.connections == connections
    assert sorted(received_ids(receiver)) == sorted(message_ids)
    for request in receiver.requests[:3]:
        Webhook(endpoint.secret).verify(request["body"], request["headers"])
    assert set(Delivery.objects.values_list("status", "attempts")) == {(Delivery.Status.SUCCEEDED, 1)}


@pytest.mark.django_db
def test_a_connection_lost_mid_batch_fails_the_rest_unsent_and_a_retry_sends_them_under_the_same_ids(
    endpoint, receiver, loopback_allowed, settings, queued
):
    settings.KANAL_WEBHOOK_CONNECTIONS = 1
    message_ids = publish(10)
    receiver.statuses = [200, 200, 200, 0]  # the fourth request and all after it: connection dropped

    assert services.endpoint_deliver(endpoint_id=endpoint.pk) == 10

    # The drop on the kept-alive connection is sent once more on a new one, which drops too.
    assert received_ids(receiver) == [*message_ids[:3], message_ids[3], message_ids[3]]
    assert receiver.connections == 2
    deliveries = list(Delivery.objects.order_by("pk"))
    assert [delivery.status for delivery in deliveries] == [Delivery.Status.SUCCEEDED] * 3 + [
        Delivery.Status.FAILED
    ] * 7
    failed = deliveries[3:]
    assert {(delivery.attempts, delivery.last_status_code) for delivery in failed} == {(1, None)}
    assert len({delivery.last_error for delivery in failed}) == 1 and failed[0].last_error
    assert all(delivery.next_attempt_at > timezone.now() for delivery in failed)
    assert queued == [([endpoint.pk], 5.0)]  # one retry task for the endpoint, not one per delivery

    receiver.statuses = [200]
    Delivery.objects.filter(status=Delivery.Status.FAILED).update(next_attempt_at=timezone.now())
    assert services.endpoint_deliver(endpoint_id=endpoint.pk) == 7

    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
    assert set(received_ids(receiver)) == set(message_ids)  # at least once, each under its own id
    assert received_ids(receiver)[5:] == message_ids[3:]
    assert set(Message.objects.values_list("message_id", flat=True)) == set(message_ids)


@pytest.mark.django_db
def test_a_time_slice_used_up_leaves_the_rest_due_without_an_attempt_and_queues_the_task_again(
    endpoint, receiver, loopback_allowed, settings, queued
):
    settings.KANAL_WEBHOOK_CONNECTIONS = 1
    publish(5)

    assert services.endpoint_deliver(endpoint_id=endpoint.pk, time_slice=timedelta(0)) == 1

    assert queued == [([endpoint.pk], 0)]
    statuses = list(Delivery.objects.order_by("pk").values_list("status", "attempts"))
    assert statuses == [(Delivery.Status.SUCCEEDED, 1)] + [(Delivery.Status.PENDING, 0)] * 4
    assert Delivery.objects.filter(status=Delivery.Status.PENDING, next_attempt_at__lte=timezone.now()).count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_delivery_once(endpoint, receiver, loopback_allowed, settings, queued):
    settings.KANAL_WEBHOOK_CONNECTIONS = 1
    message_ids = publish(300)
    start = threading.Barrier(2)

    def worker(_index):
        try:
            start.wait()
            return services.endpoint_deliver(endpoint_id=endpoint.pk)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        attempted = list(pool.map(worker, range(2)))

    assert sum(attempted) == 300
    assert sorted(received_ids(receiver)) == sorted(message_ids)  # none twice
    assert set(Delivery.objects.values_list("status", "attempts")) == {(Delivery.Status.SUCCEEDED, 1)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED: PostgreSQL; SQLite has one writer")
def test_a_second_claim_skips_rows_another_transaction_is_claiming(endpoint, queued):
    publish(150)
    other = []

    with transaction.atomic():
        first = services._claim(endpoint_id=endpoint.pk)  # locked until this block commits

        def claim_elsewhere():
            try:
                other.append(services._claim(endpoint_id=endpoint.pk))
            finally:
                connection.close()

        thread = threading.Thread(target=claim_elsewhere)
        thread.start()
        thread.join(10)
        assert not thread.is_alive()  # it skipped the locked rows instead of waiting

    [second] = other
    assert len(first) == services.BATCH_SIZE and len(second) == 50
    assert not set(first) & set(second)


@pytest.mark.django_db
def test_in_a_batch_only_deliveries_given_up_after_its_last_success_count_towards_disabling(
    endpoint, receiver, loopback_allowed, settings, queued
):
    settings.KANAL_WEBHOOK_CONNECTIONS = 1
    publish(3)
    Delivery.objects.update(attempts=len(services.RETRY_DELAYS))
    Endpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=3)
    receiver.statuses = [503, 200, 503]

    services.endpoint_deliver(endpoint_id=endpoint.pk)

    assert list(Delivery.objects.order_by("pk").values_list("status", flat=True)) == [
        Delivery.Status.EXHAUSTED,
        Delivery.Status.SUCCEEDED,
        Delivery.Status.EXHAUSTED,
    ]
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 1 and endpoint.is_active


@pytest.mark.django_db
def test_a_task_of_one_delivery_still_in_a_queue_sends_its_endpoints_deliveries(
    endpoint, receiver, loopback_allowed, queued
):
    message_ids = publish(3)

    tasks.deliver(Delivery.objects.order_by("pk").first().pk)

    assert sorted(received_ids(receiver)) == sorted(message_ids)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SUCCEEDED}
