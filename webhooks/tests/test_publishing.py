"""What publishing costs: the endpoints are read once per transaction, and events published
together are inserted together; an endpoint changed elsewhere counts from the next transaction."""

import threading

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from subscribers.services import preferences
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory
from webhooks import services
from webhooks.models import Delivery, Endpoint, Message


def endpoints(*events, count=2):
    return [Endpoint.objects.create(url=f"https://crm{n}.example/hook", events=list(events)) for n in range(count)]


def webhook_queries(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if "webhooks_" in query["sql"]]


@pytest.mark.django_db
@pytest.mark.parametrize("count", [1, 25])
def test_events_published_together_cost_three_queries_however_many(count, django_assert_num_queries):
    endpoints("subscriber.confirmed")
    # Three queries: the endpoints, the messages, the deliveries.
    with transaction.atomic(), django_assert_num_queries(3), services.events_batched():
        messages = [
            services.event_publish(event_type="subscriber.confirmed", data={"n": n}, subscriber_id=n)
            for n in range(count)
        ]
        services.event_publish(event_type="campaign.sent", data={})  # nobody wants it: nothing stored

    assert Message.objects.count() == count and Delivery.objects.count() == 2 * count
    assert all(message.pk for message in messages)
    assert sorted(Message.objects.values_list("payload__data__n", flat=True)) == list(range(count))


@pytest.mark.django_db
@pytest.mark.parametrize("lists", [1, 6])
def test_unsubscribing_from_many_lists_publishes_them_in_three_queries(lists):
    endpoints("subscriber.unsubscribed")
    subscriber = SubscriberFactory()
    for _n in range(lists):
        SubscriptionFactory(subscriber=subscriber)

    with CaptureQueriesContext(connection) as captured:
        preferences.subscriber_unsubscribe(subscriber=subscriber, source="preferences")

    assert len(webhook_queries(captured)) == 3
    assert Message.objects.filter(event_type="subscriber.unsubscribed").count() == lists
    assert Delivery.objects.count() == 2 * lists


@pytest.mark.django_db
def test_separate_publishes_in_one_transaction_read_the_endpoints_once(django_assert_num_queries):
    endpoints("subscriber.confirmed")
    with transaction.atomic(), django_assert_num_queries(1 + 2 * 10) as captured:
        for n in range(10):
            services.event_publish(event_type="subscriber.confirmed", data={"n": n})
    reads = [query["sql"] for query in captured.captured_queries if 'FROM "webhooks_endpoint"' in query["sql"]]
    assert len(reads) == 1


@pytest.mark.django_db
def test_an_endpoint_saved_in_this_transaction_counts_at_once():
    [first] = endpoints("subscriber.confirmed", count=1)
    with transaction.atomic():
        services.event_publish(event_type="subscriber.confirmed", data={"n": 1})
        second = Endpoint.objects.create(url="https://late.example/hook", events=["subscriber.confirmed"])
        services.event_publish(event_type="subscriber.confirmed", data={"n": 2})
        first.is_active = False
        first.save()
        services.event_publish(event_type="subscriber.confirmed", data={"n": 3})

    received = {
        n: sorted(Delivery.objects.filter(message__payload__data__n=n).values_list("endpoint_id", flat=True))
        for n in (1, 2, 3)
    }
    assert received == {1: [first.pk], 2: [first.pk, second.pk], 3: [second.pk]}


@pytest.mark.django_db
def test_an_event_published_in_a_savepoint_that_rolled_back_is_not_stored_at_the_end_of_the_batch():
    endpoints("subscriber.confirmed", count=1)
    with transaction.atomic(), services.events_batched():
        services.event_publish(event_type="subscriber.confirmed", data={"n": 1})
        try:
            with transaction.atomic():
                services.event_publish(event_type="subscriber.confirmed", data={"n": 2})
                raise RuntimeError("the change it announced failed")
        except RuntimeError:
            pass
        services.event_publish(event_type="subscriber.confirmed", data={"n": 3})

    assert sorted(Message.objects.values_list("payload__data__n", flat=True)) == [1, 3]


@pytest.mark.django_db
def test_an_exception_in_a_batch_stores_nothing():
    endpoints("subscriber.confirmed", count=1)
    with pytest.raises(RuntimeError), transaction.atomic(), services.events_batched():
        services.event_publish(event_type="subscriber.confirmed", data={"n": 1})
        raise RuntimeError("boom")
    assert not Message.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_endpoint_added_or_disabled_by_another_process_counts_from_the_next_transaction():
    [old] = endpoints("subscriber.confirmed", count=1)
    with transaction.atomic():
        services.event_publish(event_type="subscriber.confirmed", data={"n": 1})
    added = []

    def other_process():  # its own database connection, as another worker or the admin would have
        try:
            added.append(Endpoint.objects.create(url="https://new.example/hook", events=["subscriber.confirmed"]))
            Endpoint.objects.filter(pk=old.pk).update(is_active=False)
        finally:
            connection.close()

    thread = threading.Thread(target=other_process)
    thread.start()
    thread.join(10)
    # This process's own cache is all it has: the other's change came through the database only.
    assert not thread.is_alive() and added

    with transaction.atomic():
        services.event_publish(event_type="subscriber.confirmed", data={"n": 2})

    assert list(Delivery.objects.filter(message__payload__data__n=2).values_list("endpoint_id", flat=True)) == [
        added[0].pk
    ]
