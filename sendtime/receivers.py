"""Profiles learn from what people did: tracking's counted human events (machine-labelled events,
anonymous ones and those of readers without tracking consent never reach this signal) and stored
survey answers (machines cannot make them). Consent is checked again when the profile changes."""

from django.dispatch import receiver
from django.utils import timezone

from sendtime.services import Interaction, profiles_record
from surveys.signals import answers_recorded
from tracking.signals import human_events_counted


@receiver(human_events_counted, dispatch_uid="sendtime.human_events_counted")
def human_events_were_counted(sender, events, **kwargs):
    profiles_record(
        interactions=[Interaction(subscriber_id=event.subscriber_id, occurred_at=event.occurred_at) for event in events]
    )


@receiver(answers_recorded, dispatch_uid="sendtime.answers_recorded")
def answers_were_recorded(sender, subscriber_id, answer_ids, **kwargs):
    profiles_record(interactions=[Interaction(subscriber_id=subscriber_id, occurred_at=timezone.now())])
