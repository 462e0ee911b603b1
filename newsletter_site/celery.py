import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter_site.settings")

app = Celery("kanal", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _json_log_lines(logger, **kwargs):
    """Workers and beat replace Django's LOGGING with Celery's own handlers; with
    ``KANAL_LOG_FORMAT=json`` those write JSON lines too."""
    from django.conf import settings

    from newsletter_site.log_format import JsonFormatter

    if settings.KANAL_LOG_FORMAT == "json":
        for handler in logger.handlers:
            handler.setFormatter(JsonFormatter())
