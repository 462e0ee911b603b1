"""Receivers that turn what happens in the lower apps into automation entries.

Behavioural triggers take only what people did: tracking sends ``human_events_counted`` with the
human events of a counted batch only (final machine labels, tracking consent), and surveys send
their signals only for stored answers, which machines cannot make; sharing sends
``campaign_shared`` only for people's forwards and shares. Tracking consent is checked
again at entry (``services.journeys_enter``).
"""

from collections import defaultdict
from functools import partial

from django.db.models.signals import m2m_changed
from django.dispatch import receiver

from automations import kinds, services, triggers
from automations.models import Automation
from offers.signals import redemption_recorded
from referrals.signals import milestone_reached
from sharing.signals import campaign_shared
from subscribers.models import Subscriber
from subscribers.signals import subscription_confirmed
from surveys.models import Answer
from surveys.signals import answers_recorded, article_feedback_recorded
from tracking.models import Event
from tracking.signals import human_events_counted


@receiver(subscription_confirmed, dispatch_uid="automations.subscription_confirmed")
def subscription_was_confirmed(sender, subscription, **kwargs):
    services.trigger_fire(
        trigger_kind=kinds.SUBSCRIPTION_CONFIRMED,
        match={"list": subscription.mailing_list_id},
        subscriber_ids=[subscription.subscriber_id],
    )


@receiver(milestone_reached, dispatch_uid="automations.milestone_reached")
def milestone_was_reached(sender, referrer, milestone, **kwargs):
    services.trigger_fire(
        trigger_kind=triggers.MILESTONE_REACHED, match={"milestone": milestone.pk}, subscriber_ids=[referrer.pk]
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


@receiver(human_events_counted, dispatch_uid="automations.human_events_counted")
def human_events_were_counted(sender, events, **kwargs):
    """One trigger_fire per campaign, link and article of the batch, with every subscriber in it."""
    waiting = Automation.objects.filter(
        status=Automation.Status.ACTIVE, trigger_kind__in=[triggers.CLICKED, triggers.OPENED]
    )
    if not waiting.exists():
        return
    clicks: dict[tuple, set[int]] = defaultdict(set)
    opens: dict[int, set[int]] = defaultdict(set)
    for event in events:
        if event.kind == Event.Kind.CLICK:
            clicks[(event.campaign_id, event.link_id, event.article_id)].add(event.subscriber_id)
        elif event.kind == Event.Kind.OPEN:
            opens[event.campaign_id].add(event.subscriber_id)
    for (campaign_id, link_id, article_id), subscriber_ids in clicks.items():
        services.trigger_fire(
            trigger_kind=triggers.CLICKED,
            match={"campaign": campaign_id},
            subscriber_ids=sorted(subscriber_ids),
            when=partial(triggers.clicked_matches, link_id=link_id, article_id=article_id),
        )
        # A click means the mail was opened, even when its images stayed blocked.
        opens[campaign_id].update(subscriber_ids)
    for campaign_id, subscriber_ids in opens.items():
        services.trigger_fire(
            trigger_kind=triggers.OPENED, match={"campaign": campaign_id}, subscriber_ids=sorted(subscriber_ids)
        )


@receiver(answers_recorded, dispatch_uid="automations.answers_recorded")
def answers_were_recorded(sender, subscriber_id, answer_ids, **kwargs):
    for answer in Answer.objects.filter(pk__in=answer_ids).prefetch_related("choices"):
        services.trigger_fire(
            trigger_kind=triggers.ANSWERED,
            match={"question": answer.question_id},
            subscriber_ids=[subscriber_id],
            when=partial(
                triggers.answer_meets, value=answer.value, choice_ids={choice.pk for choice in answer.choices.all()}
            ),
        )


@receiver(article_feedback_recorded, dispatch_uid="automations.article_feedback_recorded")
def article_feedback_was_recorded(sender, feedback, **kwargs):
    if feedback.subscriber_id is None:
        return
    services.trigger_fire(
        trigger_kind=triggers.FEEDBACK,
        match={"article": feedback.article_id, "useful": feedback.useful},
        subscriber_ids=[feedback.subscriber_id],
    )


@receiver(redemption_recorded, dispatch_uid="automations.redemption_recorded")
def redemption_was_recorded(sender, redemption, **kwargs):
    """After the redemption committed; a redemption without a known person enters nobody."""
    if redemption.subscriber_id is None:
        return
    services.trigger_fire(
        trigger_kind=triggers.OFFER_REDEEMED,
        match={},
        subscriber_ids=[redemption.subscriber_id],
        when=partial(triggers.redeemed_matches, offer_id=redemption.offer_id),
    )


@receiver(campaign_shared, dispatch_uid="automations.campaign_shared")
def campaign_was_shared(sender, event, **kwargs):
    """After the forward or share committed; sharing sends only people's events that name someone,
    but the label is checked here too: a machine never starts a journey."""
    if event.subscriber_id is None or event.is_machine:
        return
    services.trigger_fire(
        trigger_kind=triggers.SHARED,
        match={},
        subscriber_ids=[event.subscriber_id],
        when=partial(triggers.shared_matches, campaign_id=event.campaign_id),
    )
