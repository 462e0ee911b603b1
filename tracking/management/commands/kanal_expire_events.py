from django.conf import settings
from django.core.management.base import BaseCommand

from tracking.services import retention


class Command(BaseCommand):
    help = (
        "Delete counted tracking events older than KANAL_EVENT_RETENTION_DAYS: whole month partitions "
        "on PostgreSQL, the rest in batches (the beat task does this daily). Safe to interrupt and run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=retention.BATCH_SIZE)

    def handle(self, *args, batch_size, **options):
        outcome = retention.events_expire(batch_size=batch_size)
        if outcome.cutoff is None:
            self.stdout.write("KANAL_EVENT_RETENTION_DAYS is 0: events are kept.")
            return
        self.stdout.write(
            f"Deleted {outcome.deleted} events before {outcome.cutoff.isoformat()}: {outcome.partitions} month "
            f"partitions dropped, {outcome.batches} batches (retention {settings.KANAL_EVENT_RETENTION_DAYS} days)."
        )
