from django.conf import settings
from django.db import migrations


def create_default_brand(apps, schema_editor):
    """The look mails had before brands (the colours of the old layout) and the footer settings."""
    Brand = apps.get_model("brands", "Brand")
    if Brand.objects.filter(is_default=True).exists():
        return
    Brand.objects.create(
        name="Kanal",
        primary_color="#1d4ed8",
        accent_color="#d97706",
        background_color="#f3f4f6",
        text_color="#1f2933",
        font="system_sans",
        company_address=settings.KANAL_COMPANY_ADDRESS,
        imprint_url=settings.KANAL_IMPRINT_URL,
        privacy_url=settings.KANAL_PRIVACY_URL,
        is_default=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("brands", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_default_brand, migrations.RunPython.noop),
    ]
