"""Import a generated CSV of subscribers and print rows/s and peak memory.

    .venv/bin/python bench/import_subscribers.py [--rows 100000] [--runs 3] [--basis documented|double_opt_in]

Each run uses a fresh SQLite database in a temporary directory and the real import service
(the code the Celery task calls). Target: 100,000 rows in under 10 s with peak RSS under 300 MB.
With ``--basis double_opt_in`` every new address also gets a ConfirmationMail row through
optin.confirmation_mail_queue; the sending tasks are counted instead of being put on a broker.
"""

import argparse
import ast
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def generate_csv(path: Path, rows: int) -> None:
    rng = random.Random(42)
    first_names = ["Anna", "Ben", "Clara", "David", "Emma", "Felix", "Jürgen", "Zoë"]
    with path.open("w", encoding="utf-8") as handle:
        handle.write("E-Mail;Vorname;Nachname;Sprache\n")
        for n in range(rows):
            roll = rng.random()
            if roll < 0.01:
                email = f"broken-{n}@"  # invalid
            elif roll < 0.02:
                email = f"User{max(n - 1, 0)}@Example.com"  # duplicate of the previous row
            else:
                email = f"User{n}@Example.com"
            handle.write(f"{email};{rng.choice(first_names)};Muster{n};{rng.choice(['de', 'en', ''])}\n")


def one_run(rows: int, basis: str) -> dict:
    """Runs in a child process so every run starts with fresh memory and a fresh database."""
    with tempfile.TemporaryDirectory() as directory:
        os.environ["KANAL_VAR_DIR"] = directory
        os.environ["DATABASE_URL"] = f"sqlite:///{directory}/bench.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter_site.settings")
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from django.core.files.uploadedfile import SimpleUploadedFile
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from subscribers import tasks
        from subscribers.models import ConfirmationMail, MailingList, Subscriber, SubscriberImport
        from subscribers.services import imports

        queued_tasks = []
        tasks.send_confirmation_mail.delay = lambda *args: queued_tasks.append(args)
        tasks.send_confirmation_mails.delay = lambda *args: queued_tasks.append(args)

        csv_path = Path(directory) / "subscribers.csv"
        generate_csv(csv_path, rows)
        mailing_list = MailingList.objects.create(name="Bench", slug="bench")
        subscriber_import = imports.subscriber_import_create(
            upload=SimpleUploadedFile("subscribers.csv", csv_path.read_bytes()),
            mailing_list=mailing_list,
            tags=[],
            consent_basis=basis,
            consent_source="trade fair 2026, paper forms in folder 7",
            created_by=None,
        )
        subscriber_import.status = SubscriberImport.Status.QUEUED
        subscriber_import.save(update_fields=["status"])
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        imports.subscriber_import_run(import_id=subscriber_import.pk)
        elapsed = time.perf_counter() - started
        subscriber_import.refresh_from_db()
        assert subscriber_import.status == SubscriberImport.Status.DONE, subscriber_import.failure_reason
        return {
            "seconds": elapsed,
            "rows_per_second": rows / elapsed,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_before_mb": rss_before,
            "created": subscriber_import.created_count,
            "errors": subscriber_import.error_count,
            "skipped": subscriber_import.skipped_count,
            "subscribers": Subscriber.objects.count(),
            "confirmation_mails": ConfirmationMail.objects.count(),
            "mail_tasks": len(queued_tasks),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--basis", choices=["documented", "double_opt_in"], default="documented")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(repr(one_run(arguments.rows, arguments.basis)))
        return
    results = []
    for run in range(1, arguments.runs + 1):
        output = subprocess.run(
            [sys.executable, __file__, "--child", "--rows", str(arguments.rows), "--basis", arguments.basis],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = ast.literal_eval(output.strip().splitlines()[-1])
        results.append(result)
        print(
            f"run {run}: {result['seconds']:.2f} s, {result['rows_per_second']:,.0f} rows/s, "
            f"peak RSS {result['peak_rss_mb']:.0f} MB (before import {result['rss_before_mb']:.0f} MB, "
            f"+{result['peak_rss_mb'] - result['rss_before_mb']:.0f} MB), "
            f"created {result['created']:,}, skipped {result['skipped']:,}, errors {result['errors']:,}, "
            f"confirmation mails {result['confirmation_mails']:,} in {result['mail_tasks']:,} tasks"
        )
    seconds = statistics.median(r["seconds"] for r in results)
    print(
        f"median of {len(results)} runs, {arguments.rows:,} rows: {seconds:.2f} s, "
        f"{arguments.rows / seconds:,.0f} rows/s, "
        f"peak RSS {statistics.median(r['peak_rss_mb'] for r in results):.0f} MB "
        f"(+{statistics.median(r['peak_rss_mb'] - r['rss_before_mb'] for r in results):.0f} MB during the import)"
    )
    print("target: < 10 s and < 300 MB peak RSS")


if __name__ == "__main__":
    main()
