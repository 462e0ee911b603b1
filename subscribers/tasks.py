from celery import shared_task

from subscribers.services import imports, optin


@shared_task(acks_late=True)
def send_confirmation_mail(confirmation_mail_id: int) -> None:
    optin.confirmation_mail_send(confirmation_mail_id=confirmation_mail_id)


@shared_task(acks_late=True)
def send_confirmation_mails(confirmation_mail_ids: list[int]) -> None:
    for confirmation_mail_id in confirmation_mail_ids:
        optin.confirmation_mail_send(confirmation_mail_id=confirmation_mail_id)


@shared_task(acks_late=True)
def import_subscribers(import_id: int) -> None:
    imports.subscriber_import_run(import_id=import_id)
