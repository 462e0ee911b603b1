from celery import shared_task

from subscribers.services import optin


@shared_task(acks_late=True)
def send_confirmation_mail(confirmation_mail_id: int) -> None:
    optin.confirmation_mail_send(confirmation_mail_id=confirmation_mail_id)
