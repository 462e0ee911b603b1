from django.core.management import call_command
from django.core.management.base import BaseCommand

from demo.services import DEMO_LISTS, demo_forget_removal, demo_seed
from subscribers.models import MailingList


class Command(BaseCommand):
    help = "Seed the demo data again after `kanal_demo_remove` (runs `kanal_bootstrap` first if the lists are missing)."

    def handle(self, *args, **options):
        demo_forget_removal()
        lists = {found.slug: found for found in MailingList.objects.filter(slug__in=DEMO_LISTS)}
        if len(lists) < len(DEMO_LISTS):
            call_command("kanal_bootstrap", stdout=self.stdout)
            return
        outcome = demo_seed(lists=lists)
        self.stdout.write("Seeded the demo data." if outcome.created else "The demo data is there already.")
