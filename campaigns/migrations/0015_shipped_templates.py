"""Three starting points staff can begin a campaign from: a newsletter with articles, a single
announcement, a personal letter.

They are written once, in the site's language (``LANGUAGE_CODE``: German unless it starts with
"en"), as ordinary templates staff may edit, rename or delete; gettext is not used because a
template is content, not interface (see docs/architecture.md, "Templates").
"""

import uuid
from email.utils import parseaddr

from django.conf import settings
from django.db import migrations

STARTERS = {
    "de": [
        {
            "name": "Vorlage: Newsletter mit Artikeln",
            "subject": 'Neuigkeiten für {{ subscriber.first_name|default:"Sie" }}',
            "preheader": "Die Themen dieser Ausgabe auf einen Blick",
            "articles": [
                {
                    "headline": "Das Wichtigste zuerst",
                    "body": "Zwei, drei Sätze zum Thema. Was ist neu, und warum lohnt sich das Weiterlesen?",
                    "link_url": "https://example.com/artikel-1",
                    "cta_text": "Weiterlesen",
                },
                {
                    "headline": "Zweites Thema",
                    "body": "Ein kurzer Anreißer. Fassen Sie den Kern in einem Absatz zusammen.",
                    "link_url": "https://example.com/artikel-2",
                    "cta_text": "",
                },
                {
                    "headline": "Kurz notiert",
                    "body": "- Termin oder Hinweis\n- Noch ein Hinweis\n- Und ein dritter",
                    "link_url": "",
                    "cta_text": "",
                },
            ],
        },
        {
            "name": "Vorlage: Ankündigung",
            "subject": "Neu: …",
            "preheader": "Eine Neuigkeit, in einer Minute gelesen",
            "articles": [
                {
                    "headline": "Wir haben Neuigkeiten",
                    "body": "Worum geht es, für wen ist es, ab wann gilt es? Ein Absatz, eine klare Handlung.",
                    "link_url": "https://example.com/",
                    "cta_text": "Jetzt ansehen",
                },
            ],
        },
        {
            "name": "Vorlage: Persönlicher Brief",
            "subject": 'Ein paar Zeilen an {{ subscriber.first_name|default:"Sie" }}',
            "preheader": "",
            "articles": [
                {
                    "headline": 'Liebe Leserin, lieber Leser,',
                    "body": (
                        "ich schreibe Ihnen heute, weil …\n\n"
                        "Erzählen Sie in Ihren eigenen Worten, was Sie bewegt.\n\n"
                        "Herzliche Grüße\n\nIhr Name"
                    ),
                    "link_url": "",
                    "cta_text": "",
                },
            ],
        },
    ],
    "en": [
        {
            "name": "Template: newsletter with articles",
            "subject": 'News for {{ subscriber.first_name|default:"you" }}',
            "preheader": "This issue at a glance",
            "articles": [
                {
                    "headline": "First things first",
                    "body": "Two or three sentences on the topic. What is new, and why read on?",
                    "link_url": "https://example.com/article-1",
                    "cta_text": "Read more",
                },
                {
                    "headline": "Second topic",
                    "body": "A short teaser. Sum up the heart of it in one paragraph.",
                    "link_url": "https://example.com/article-2",
                    "cta_text": "",
                },
                {
                    "headline": "In brief",
                    "body": "- A date or a note\n- Another note\n- And a third",
                    "link_url": "",
                    "cta_text": "",
                },
            ],
        },
        {
            "name": "Template: announcement",
            "subject": "New: …",
            "preheader": "One piece of news, read in a minute",
            "articles": [
                {
                    "headline": "We have news",
                    "body": "What is it, who is it for, when does it start? One paragraph, one clear action.",
                    "link_url": "https://example.com/",
                    "cta_text": "Take a look",
                },
            ],
        },
        {
            "name": "Template: personal letter",
            "subject": 'A few lines for {{ subscriber.first_name|default:"you" }}',
            "preheader": "",
            "articles": [
                {
                    "headline": "Dear reader,",
                    "body": (
                        "I am writing to you today because …\n\n"
                        "Tell them in your own words what is on your mind.\n\n"
                        "Best wishes\n\nYour name"
                    ),
                    "link_url": "",
                    "cta_text": "",
                },
            ],
        },
    ],
}


def site_language() -> str:
    return "en" if settings.LANGUAGE_CODE.lower().startswith("en") else "de"


def create_starters(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    Article = apps.get_model("campaigns", "Article")
    language = site_language()
    from_name, from_email = parseaddr(settings.DEFAULT_FROM_EMAIL)
    for starter in STARTERS[language]:
        if Campaign.objects.filter(is_template=True, name=starter["name"]).exists():
            continue
        template = Campaign.objects.create(
            name=starter["name"],
            kind="newsletter",
            is_template=True,
            subject=starter["subject"],
            preheader=starter["preheader"],
            from_name=from_name,
            from_email=from_email,
            language=language,
            archive_id=uuid.uuid4(),
        )
        for position, article in enumerate(starter["articles"]):
            Article.objects.create(campaign=template, position=position, public_id=uuid.uuid4(), **article)


def remove_starters(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    names = [starter["name"] for starters in STARTERS.values() for starter in starters]
    Campaign.objects.filter(is_template=True, name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0014_campaign_is_template")]

    operations = [migrations.RunPython(create_starters, remove_starters)]
