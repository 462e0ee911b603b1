"""The editor's live preview: server time of one POST for a campaign with 10 articles.

    .venv/bin/python bench/editor_preview.py [--runs 50]

Posts the change form (subject, preheader, 10 articles with Markdown, links and images) to the
editor-preview endpoint through Django's test client, as a staff user who may see subscribers
(merge tags filled from a sample subscriber), and prints the median and the 90th percentile of
the time the view takes. A fresh SQLite database under a temporary KANAL_VAR_DIR, or PostgreSQL
with DATABASE_URL (a test database is created and dropped). The target is < 150 ms. Figures go
in docs/benchmarks.md.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    os.environ.setdefault("KANAL_VAR_DIR", tempfile.mkdtemp(prefix="kanal-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter_site.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        run(args.runs)
    finally:
        teardown_databases(databases, verbosity=0)


def run(runs: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from campaigns.models import Article, Campaign
    from subscribers.models import MailingList, Subscriber, Subscription

    mailing_list = MailingList.objects.create(name="Bench", slug="bench")
    subscriber = Subscriber.objects.create(email="leserin@example.org", first_name="Walburga", status="active")
    Subscription.objects.create(subscriber=subscriber, mailing_list=mailing_list, status="active")
    campaign = Campaign.objects.create(
        name="Bench",
        subject='Neues für {{ subscriber.first_name|default:"Leserin" }}',
        preheader="Zehn Themen",
        from_name="Kanal",
        from_email="news@example.com",
        language="de",
    )
    campaign.mailing_lists.add(mailing_list)
    data = {
        "subject": campaign.subject,
        "preheader": campaign.preheader,
        "from_name": campaign.from_name,
        "articles-TOTAL_FORMS": "10",
        "articles-INITIAL_FORMS": "10",
        "articles-MIN_NUM_FORMS": "0",
        "articles-MAX_NUM_FORMS": "1000",
    }
    for position in range(10):
        body = (
            f'Hallo {{{{ subscriber.first_name|default:"du" }}}}, Absatz **{position}** mit '
            f"[einem Link](https://example.org/{position}).\n\n- eins\n- zwei\n\n> Ein Zitat"
        )
        article = Article.objects.create(
            campaign=campaign,
            position=position,
            headline=f"Artikel {position}",
            body=body,
            image_url=f"https://example.org/{position}.jpg",
            image_alt="Bild",
            link_url=f"https://example.org/artikel-{position}",
            cta_text="Weiterlesen",
        )
        prefix = f"articles-{position}-"
        data |= {
            prefix + "id": str(article.pk),
            prefix + "campaign": str(campaign.pk),
            prefix + "position": str(position),
            prefix + "headline": article.headline,
            prefix + "body": body,
            prefix + "image_url": article.image_url,
            prefix + "image_alt": "Bild",
            prefix + "link_url": article.link_url,
            prefix + "cta_text": "Weiterlesen",
            prefix + "segment": "",
        }
    user = get_user_model().objects.create_superuser("bench", "bench@example.org", "bench")
    client = Client()
    client.force_login(user)
    url = reverse("admin:campaigns_campaign_editor_preview", args=[campaign.pk])

    timings = []
    for run_number in range(runs + 1):
        data["articles-0-body"] = f"Getippt {run_number}: " + data["articles-0-body"].split(": ", 1)[-1]
        started = time.perf_counter()
        response = client.post(url, data)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200 and f"Getippt {run_number}" in response.json()["html"], response.content[
            :300
        ]
        if run_number:  # the first one warms caches (templates, the MJML layout)
            timings.append(elapsed * 1000)
    timings.sort()
    print(f"database: {connection.vendor}; runs: {runs}; 10 articles")
    p90 = timings[int(len(timings) * 0.9) - 1]
    print(f"editor preview POST: median {statistics.median(timings):.1f} ms, p90 {p90:.1f} ms")


if __name__ == "__main__":
    main()
