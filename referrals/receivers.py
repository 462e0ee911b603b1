"""Receivers of the lower apps' signals; connected by importing this module in ``ready()``."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from referrals import services
from subscribers.models import ConsentRecord
from subscribers.signals import signup_recorded, subscription_confirmed


@receiver(signup_recorded, dispatch_uid="referrals.signup_recorded")
def signup_was_recorded(sender, subscription, consent_record, **kwargs):
    services.referral_record(subscription=subscription, consent_record=consent_record)


@receiver(subscription_confirmed, dispatch_uid="referrals.subscription_confirmed")
def subscription_was_confirmed(sender, subscription, **kwargs):
    services.referral_credit(subscription=subscription)


@receiver(post_save, sender=ConsentRecord, dispatch_uid="referrals.consent_recorded")
def consent_was_recorded(sender, instance, created, **kwargs):
    """Consent records are append-only and written for every unsubscribe, bounce and complaint."""
    if created and instance.action in services.LEAVING:
        services.referrals_revoke(consent_record=instance)
