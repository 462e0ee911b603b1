import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse

from demo.services import DemoOutcome, demo_seed, demo_was_removed
from newsletter_site.private_files import private_file_create
from subscribers.models import ConsentText, MailingList

CONSENT_TEXTS = {
    "de": (
        "Ja, ich möchte den Newsletter per E-Mail erhalten. Meine Einwilligung kann ich jederzeit über den "
        "Abmeldelink in jeder Ausgabe widerrufen. Öffnungen und Klicks werden nur gemessen, wenn ich dem "
        "gesondert zustimme. Einzelheiten stehen in der Datenschutzerklärung."
    ),
    "en": (
        "Yes, I would like to receive the newsletter by email. I can withdraw my consent at any time through the "
        "unsubscribe link in every issue. Opens and clicks are measured only if I agree to that separately. "
        "Details are in the privacy policy."
    ),
}

ADMIN_USERNAME = "admin"


class Command(BaseCommand):
    help = "Create the admin login, the starting lists and the demo data. Running it again changes nothing."

    def handle(self, *args, **options):
        username, password = self.ensure_admin()
        with transaction.atomic():
            lists = self.ensure_lists()
        demo = None if demo_was_removed() else demo_seed(lists=lists)
        login = f"{username} / {password}"
        if password is None:
            login = f"{username} / (changed since; `manage.py changepassword {username}` resets it)"
        sign_up = [f"{settings.SITE_URL}{reverse('subscribers:subscribe', args=[slug])}" for slug in lists]
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Sign-up form: {sign_up[0]}",
                    *(f"                {url}" for url in sign_up[1:]),
                    f"  Admin:        {settings.SITE_URL}{reverse('admin:index')}",
                    f"  Analytics:    {settings.SITE_URL}{reverse('tracking:analytics_campaigns')}",
                    f"  Login:        {login}",
                    self.demo_line(demo),
                    f"  Outbox:       {settings.EMAIL_FILE_PATH}/ (mails as .eml files)",
                    "",
                ]
            )
        )

    def ensure_admin(self) -> tuple[str, str | None]:
        """The superuser ``admin`` and its password, or None when someone changed it in the meantime.

        KANAL_ADMIN_PASSWORD, when set, is applied on every run. Otherwise a random password is
        generated once into var/admin_password and set only when the user is created, so a
        password changed in the admin is not reset by the next ``kanal.py up``.
        """
        given = os.environ.get("KANAL_ADMIN_PASSWORD", "")
        password = given or self.stored_password(settings.VAR_DIR / "admin_password")
        user, created = get_user_model().objects.get_or_create(
            username=ADMIN_USERNAME, defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created or (given and not user.check_password(given)):
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["password", "is_staff", "is_superuser"])
        return user.username, password if user.check_password(password) else None

    @staticmethod
    def demo_line(demo: DemoOutcome | None) -> str:
        if demo is None:
            return "  Demo data:    removed (`manage.py kanal_demo_seed` seeds it again)"
        return "  Demo data:    tagged “demo”; `manage.py kanal_demo_remove` removes it (and only it)"

    @staticmethod
    def stored_password(password_file: Path) -> str:
        private_file_create(password_file, secrets.token_urlsafe(12))
        return password_file.read_text().strip()

    def ensure_lists(self) -> dict[str, MailingList]:
        """The consent texts and the two public lists every installation starts with (kept when the demo goes)."""
        for language, text in CONSENT_TEXTS.items():
            ConsentText.objects.get_or_create(language=language, version=1, defaults={"text": text})
        lists = {
            "news": MailingList.objects.get_or_create(
                slug="news",
                defaults={
                    "name": "Kanal News",
                    "language": "de",
                    "is_public": True,
                    "public_description": "Neuigkeiten, Anleitungen und Termine, einmal im Monat.",
                },
            )[0],
            "product-updates": MailingList.objects.get_or_create(
                slug="product-updates",
                defaults={
                    "name": "Product updates",
                    "language": "en",
                    "is_public": True,
                    "public_description": "What is new in the product, every other week.",
                },
            )[0],
        }
        return lists
