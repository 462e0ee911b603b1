# LEAD NOTE (temporary): the lead already wrote and committed this file while you were starting. Do not replace it; read it, extend it only if your task needs more, and say so in your report.
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

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
        news = lists["news"]
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Kanal:        {settings.SITE_URL}/subscribe/{news.slug}/",
                    f"  Admin:        {settings.SITE_URL}{reverse('admin:index')}",
                    f"  Login:        {username} / {password}",
                    f"  Outbox:       {settings.EMAIL_FILE_PATH}/ (mails as .eml files)",
                    "",
                ]
            )
        )

    def ensure_admin(self) -> tuple[str, str]:
        password_file = settings.VAR_DIR / "admin_password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(12))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created or not user.check_password(password):
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
        return user.username, password

    def ensure_demo_data(self) -> dict[str, MailingList]:
        for language, text in CONSENT_TEXTS.items():
            ConsentText.objects.get_or_create(language=language, version=1, defaults={"text": text})
        lists = {
            "news": MailingList.objects.get_or_create(
                slug="news",
                defaults={
                    "name": "Kanal News",
                    "language": "de",
                    "public_description": "Neuigkeiten, Anleitungen und Termine, einmal im Monat.",
                },
            )[0],
            "product-updates": MailingList.objects.get_or_create(
                slug="product-updates",
                defaults={
                    "name": "Product updates",
                    "language": "en",
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
