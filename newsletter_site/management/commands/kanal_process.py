import os

from django.core.management.base import BaseCommand

from newsletter_site import processes, supervisor


class Command(BaseCommand):
    help = (
        "Run a Celery worker or beat with the command line from newsletter_site/processes.py; "
        "the Procfile, docker-compose.yml and the process tests all start it this way."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", choices=processes.NAMES)
        parser.add_argument(
            "--restart",
            action="store_true",
            help="Stay as its supervisor and start it again whenever it dies (for the Procfile; "
            "Docker's restart policy does this in Compose).",
        )

    def handle(self, *args, name, restart, **options):
        argv = processes.argv(name)
        if restart:
            raise SystemExit(supervisor.supervise(argv, name=name))
        # Replaced, not wrapped: signals reach Celery directly, and in Docker Celery is the container's process.
        os.execv(argv[0], argv)  # noqa: S606
