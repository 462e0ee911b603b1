from celery import shared_task


@shared_task(acks_late=True)
def send_confirmation_mail(confirmation_mail_id: int) -> None:
    from subscribers.services import optin

    optin.confirmation_mail_send(confirmation_mail_id=confirmation_mail_id)


@shared_task(acks_late=True)
def send_confirmation_mails(confirmation_mail_ids: list[int]) -> None:
    from subscribers.services import optin

    for confirmation_mail_id in confirmation_mail_ids:
        optin.confirmation_mail_send(confirmation_mail_id=confirmation_mail_id)


@shared_task(acks_late=True)
def import_subscribers(import_id: int) -> None:
    from subscribers.services import imports

    imports.subscriber_import_run(import_id=import_id)


@shared_task(acks_late=True)
def send_data_link_mail(subscriber_id: int, action: str) -> None:
    from subscribers.services import data_links

    data_links.data_link_mail_send(subscriber_id=subscriber_id, action=action)
