"""Receivers that turn what happens in the lower apps into automation entries.

Behavioural triggers (clicked, answered) will listen to tracking and surveys the same way, and
must take only human events: their receiver drops any event with ``Event.is_machine`` set before
calling ``trigger_fire``, so a mail scanner's click never starts a journey.
"""

from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from automations import kinds, services
from subscribers.models import Subscriber
from subscribers.signals import subscription_confirmed


@receiver(subscription_confirmed, dispatch_uid="automations.subscription_confirmed")
def subscription_was_confirmed(sender, subscription, **kwargs):
    services.trigger_fire(
        trigger_kind=kinds.SUBSCRIPTION_CONFIRMED,
        match={"list": subscription.mailing_list_id},
        subscriber_ids=[subscription.subscriber_id],
    )


@receiver(m2m_changed, sender=Subscriber.tags.through, dispatch_uid="automations.tag_added")
def tags_were_added(sender, instance, action, reverse, pk_set, **kwargs):
    """Subscriber.tags.add() (or Tag.subscribers.add()); bulk inserts of tag rows (imports) send nothing."""
    if action != "post_add" or not pk_set:
        return
    if reverse:  # instance is the tag, pk_set the subscribers
        services.trigger_fire(trigger_kind=kinds.TAG_ADDED, match={"tag": instance.pk}, subscriber_ids=list(pk_set))
        return
    for tag_id in pk_set:
        services.trigger_fire(trigger_kind=kinds.TAG_ADDED, match={"tag": tag_id}, subscriber_ids=[instance.pk])
