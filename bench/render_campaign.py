"""Compile a 6-article campaign once, render it for 10,000 recipients, print µs per render.

    .venv/bin/python bench/render_campaign.py [--renders 10000] [--articles 6] [--conditional 0]

Measures campaigns.rendering: compile_campaign (MJML, CSS inlining, Markdown, sanitising,
merge-tag parsing; once per campaign) and CompiledCampaign.render (merge tags, per-recipient
URLs, tracked link URLs; once per message). Building the MIME message is the sending
pipeline's part and not measured here. Budget from issue #3: render + MIME < 300 µs.

``--conditional N`` gives the first N articles a segment (conditional content): it prints what
laying out one variant costs (``CompiledCampaign.variant``, once per set of visible articles
and worker) and renders each recipient with one of the 2^N variants in turn.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BODY = """Liebe {{ subscriber.first_name|default:"Leserin" }}, hier ist **die Nachricht** der Woche.

Wir haben [den Bericht](https://example.org/report?id=42&src=mail) veröffentlicht und
[die Zahlen](https://example.org/numbers) aktualisiert. Drei Punkte:

- erstens, mit *Betonung*
- zweitens, mit einem [Link](https://example.org/two)
- drittens

> Ein Zitat, das in der Mail gut aussieht.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--renders", type=int, default=10_000)
    parser.add_argument("--articles", type=int, default=6)
    parser.add_argument("--conditional", type=int, default=0, help="articles shown only to a segment")
    args = parser.parse_args()

    os.environ.setdefault("KANAL_VAR_DIR", tempfile.mkdtemp(prefix="kanal-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter_site.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from campaigns.models import Article, Campaign
    from campaigns.rendering import RecipientContext, compile_campaign

    campaign = Campaign(
        name="Bench",
        subject='Neues für {{ subscriber.first_name|default:"Leserin" }}',
        preheader="Die Themen der Woche, {{ subscriber.first_name|capfirst }}",
        from_name="Kanal",
        from_email="news@example.com",
        language="de",
    )
    articles = [
        Article(
            position=n,
            headline=f"Artikel {n + 1} für {{{{ subscriber.first_name|default:'dich' }}}}",
            body=BODY,
            image_url=f"https://cdn.example.org/images/{n}.jpg",
            image_alt=f"Bild {n + 1}",
            link_url=f"https://example.org/article/{n}",
            cta_text="Weiterlesen",
        )
        for n in range(args.articles)
    ]
    for n, article in enumerate(articles[: args.conditional]):
        article.pk, article.segment_id = n + 1, 1  # unsaved: the compiler needs only the ids

    started = time.perf_counter()
    compiled = compile_campaign(campaign, articles=articles)
    compile_ms = (time.perf_counter() - started) * 1000

    recipients = [
        RecipientContext(
            email=f"reader{n}@example.org",
            first_name=["Anna", "Ben", "", "Jürgen", "<Zoë & Co>"][n % 5],
            last_name=f"Muster{n}",
            language="de",
            unsubscribe_url=f"https://news.example.com/unsubscribe/token-{n}/",
            preferences_url=f"https://news.example.com/preferences/token-{n}/",
            link_urls=[f"https://news.example.com/c/{n}-{i}/sig" for i in range(len(compiled.links))],
            open_pixel_url=f"https://news.example.com/o/{n}.gif",
        )
        for n in range(args.renders)
    ]
    variants = [compiled]
    variant_ms = 0.0
    if args.conditional:
        ids = [article.pk for article in articles[: args.conditional]]
        started = time.perf_counter()
        variants = [
            compiled.variant(frozenset(pk for bit, pk in enumerate(ids) if mask >> bit & 1))
            for mask in range(2 ** len(ids))
        ]
        variant_ms = (time.perf_counter() - started) * 1000 / len(variants)
    for recipient in recipients[:200]:  # warm-up
        compiled.render(recipient)

    timings = []
    perf = time.perf_counter_ns
    renders = [variant.render for variant in variants]
    for n, recipient in enumerate(recipients):
        render = renders[n % len(renders)]
        before = perf()
        render(recipient)
        timings.append((perf() - before) / 1000)
    render = compiled.render
    timings.sort()
    message = render(recipients[0])

    print(f"articles: {args.articles}, links: {len(compiled.links)}, slots: {len(compiled.slots)}")
    print(f"html: {len(message.html.encode()) / 1024:.1f} KiB, text: {len(message.text.encode()) / 1024:.1f} KiB")
    print(f"compile once: {compile_ms:.1f} ms")
    if args.conditional:
        print(f"conditional articles: {args.conditional}, variants: {len(variants)}, {variant_ms:.1f} ms each")
    print(
        f"render x{args.renders}: median {statistics.median(timings):.1f} µs, "
        f"p99 {timings[int(len(timings) * 0.99)]:.1f} µs, max {timings[-1]:.1f} µs"
    )


if __name__ == "__main__":
    main()
