from django.core.management.base import BaseCommand

from demo.services import demo_remove


class Command(BaseCommand):
    help = (
        "Remove the demo data `kanal.py up` seeded (demo subscribers, campaigns, their events and answers), "
        "and nothing else. `up` does not seed it again; `kanal_demo_seed` does."
    )

    def handle(self, *args, **options):
        outcome = demo_remove()
        self.stdout.write(
            f"Removed the demo data: {outcome.subscribers} subscribers and {outcome.campaigns} campaigns "
            "with their deliveries, events, answers and feedback."
        )
