"""Count subscribers by custom field conditions: 200,000 subscribers with 10 values each.

    .venv/bin/python bench/custom_fields.py [--subscribers 200000]

Measures subscribers.selectors.custom_field_q on the JSON column Subscriber.fields: one count
per condition kind (median of three), and four conditions combined with a NOT. A fresh SQLite
database under a temporary KANAL_VAR_DIR, or PostgreSQL with DATABASE_URL (a test database
is created and dropped). Figures go in docs/benchmarks.md.
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=200_000)
    args = parser.parse_args()

    os.environ.setdefault("KANAL_VAR_DIR", tempfile.mkdtemp(prefix="kanal-bench-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter_site.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    databases = setup_databases(verbosity=0, interactive=False)
    try:
        run(args.subscribers, connection)
    finally:
        teardown_databases(databases, verbosity=0)


def run(count: int, connection) -> None:
    from django.utils import timezone

    from newsletter_site.bulk import db_value, insert_rows
    from subscribers.models import CustomField, Subscriber
    from subscribers.selectors import custom_field_q

    random.seed(1)
    options = {
        name: [{"value": v, "label_de": v, "label_en": v} for v in values]
        for name, values in (
            ("city", ["berlin", "koeln", "wien", "hamburg", "graz"]),
            ("topics", ["sport", "kultur", "politik", "reisen", "technik"]),
        )
    }
    fields = {
        "city": CustomField.objects.create(
            key="city", label_de="c", label_en="c", kind="choice", choices=options["city"]
        ),
        "topics": CustomField.objects.create(
            key="topics", label_de="t", label_en="t", kind="multiple_choice", choices=options["topics"]
        ),
        "age": CustomField.objects.create(key="age", label_de="a", label_en="a", kind="number"),
        "birthday": CustomField.objects.create(key="birthday", label_de="b", label_en="b", kind="date"),
        "customer": CustomField.objects.create(key="customer", label_de="k", label_en="k", kind="boolean"),
        "note": CustomField.objects.create(key="note", label_de="n", label_en="n", kind="text"),
    }

    def values() -> dict:
        topics = sorted(random.sample([option["value"] for option in options["topics"]], random.randint(0, 3)))
        stored = {
            "city": random.choice(options["city"])["value"],
            "age": random.randint(18, 90),
            "birthday": f"{random.randint(1940, 2005)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}",
            "customer": random.random() < 0.3,
            "note": random.choice(["morgens", "abends lesen", "nie"]),
            **{f"extra{index}": random.randint(0, 1000) for index in range(4)},
        }
        return {**stored, "topics": topics} if topics else stored

    now = timezone.now()
    started = time.perf_counter()
    for start in range(0, count, 20_000):
        insert_rows(
            Subscriber,
            columns=("email", "public_id", "fields"),
            rows=[
                (
                    f"r{n}@example.org",
                    db_value(Subscriber, "public_id", uuid.uuid4()),
                    db_value(Subscriber, "fields", values()),
                )
                for n in range(start, min(count, start + 20_000))
            ],
            constants={
                "first_name": "",
                "last_name": "",
                "language": "de",
                "status": "active",
                "tracking_consent": False,
                "created_at": now,
                "updated_at": now,
            },
        )
    seconds = time.perf_counter() - started
    print(f"{connection.vendor}: {count:,} subscribers with 10 values each, inserted in {seconds:.1f} s")

    def q(key, operator, value=None):
        return custom_field_q(field=fields[key], operator=operator, value=value)

    cases = [
        ("single choice: city is koeln", q("city", "is", "koeln")),
        ("multiple choice: topics has sport", q("topics", "has", "sport")),
        ("number: age between 30 and 40", q("age", "between", [30, 40])),
        ("date: birthday within the next 7 days (anniversary)", q("birthday", "anniversary_within_next_days", 7)),
        ("yes/no: customer is true", q("customer", "is_true")),
        ("text: note contains 'lesen'", q("note", "contains", "lesen")),
        (
            "city AND topics AND age AND NOT customer",
            q("city", "is", "koeln")
            & q("topics", "has", "sport")
            & q("age", "between", [30, 40])
            & ~q("customer", "is_true"),
        ),
    ]
    for name, condition in cases:
        queryset = Subscriber.objects.filter(condition)
        timings = []
        for _ in range(3):
            before = time.perf_counter()
            matched = queryset.count()
            timings.append((time.perf_counter() - before) * 1000)
        print(f"  {name}: {matched:,} in {statistics.median(timings):.0f} ms")


if __name__ == "__main__":
    main()
