import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from newsletter_site.private_files import private_file_create
from subscribers.models import ConsentRecord, ConsentText, MailingList, Subscriber, Subscription, Tag
from subscribers.services.consent import consent_record_add

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

DEMO_PEOPLE = [
    ("anna", "Anna", "Schmidt", "de"),
    ("ben", "Ben", "Müller", "de"),
    ("clara", "Clara", "Weber", "de"),
    ("david", "David", "Fischer", "de"),
    ("emma", "Emma", "Wagner", "de"),
    ("felix", "Felix", "Becker", "de"),
    ("greta", "Greta", "Hoffmann", "de"),
    ("hannes", "Hannes", "Schulz", "de"),
    ("ida", "Ida", "Koch", "de"),
    ("jonas", "Jonas", "Richter", "de"),
    ("karla", "Karla", "Klein", "de"),
    ("lukas", "Lukas", "Wolf", "de"),
    ("mia", "Mia", "Neumann", "de"),
    ("noah", "Noah", "Schwarz", "de"),
    ("olivia", "Olivia", "Brown", "en"),
    ("paul", "Paul", "Smith", "en"),
    ("quinn", "Quinn", "Taylor", "en"),
    ("ruby", "Ruby", "Jones", "en"),
    ("sam", "Sam", "Wilson", "en"),
    ("tara", "Tara", "Evans", "en"),
]


class Command(BaseCommand):
    help = "Create the admin login and demo data. Running it again changes nothing."

    def handle(self, *args, **options):
        username, password = self.ensure_admin()
        with transaction.atomic():
            lists = self.ensure_demo_data()
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
    def stored_password(password_file: Path) -> str:
        private_file_create(password_file, secrets.token_urlsafe(12))
        return password_file.read_text().strip()

    def ensure_demo_data(self) -> dict[str, MailingList]:
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
        tags = [Tag.objects.get_or_create(name=name)[0] for name in ("customer", "event-2026", "vip")]
        for index, (local_part, first_name, last_name, language) in enumerate(DEMO_PEOPLE):
            subscriber, created = Subscriber.objects.get_or_create(
                email=f"{local_part}@example.com",
                defaults={
                    "first_name": first_name,
                    "last_name": last_name,
                    "language": language,
                    "status": Subscriber.Status.ACTIVE,
                    "tracking_consent": index % 3 != 0,
                },
            )
            if not created:
                continue
            subscriber.tags.add(tags[index % len(tags)])
            mailing_list = lists["news"] if language == "de" else lists["product-updates"]
            Subscription.objects.create(
                subscriber=subscriber,
                mailing_list=mailing_list,
                status=Subscription.Status.ACTIVE,
                confirmed_at=timezone.now(),
            )
            consent_record_add(
                subscriber=subscriber,
                action=ConsentRecord.Action.IMPORT,
                mailing_list=mailing_list,
                basis="demo data",
            )
        return lists
