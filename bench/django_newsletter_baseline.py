"""Send one django-newsletter submission to N recipients over SMTP and print one JSON line.

    python3 bench/django_newsletter_baseline.py --recipients 100000 --smtp-host 127.0.0.1 --smtp-port 8025
        [--workdir var/bench/django-newsletter]

The baseline for Kanal's own sending benchmark (bench/send_campaign.py): how many messages per
second django-newsletter, the best-known Django newsletter app, pushes through the same local
SMTP server. The caller starts the server and may count at it too.

What is measured: django-newsletter's own sending path, the ``submit_newsletter`` management
command (``Submission.submit_queue()`` -> ``Submission.submit()``), for one prepared submission
with one article of about 1,500 characters with links, rendered for every recipient as text and
HTML. ``seconds`` is the wall time of that command alone, from its start to its return just after
the last message; ``peak_rss_mb`` is the peak RSS of the process that ran it (it also loads all
subscriptions, which is part of how django-newsletter sends). Creating the virtualenv, the
project, the database and the data is not timed.

How it runs: django-newsletter pins its own dependencies and Django versions, so it gets a
virtualenv of its own under ``<workdir>/venv`` (made once, reused while the stamp file matches
the pins below), a minimal Django project generated into ``<workdir>/project`` and a fresh
SQLite database ``<workdir>/db.sqlite3``. This file runs itself inside that virtualenv for the two
child phases ("prepare", then "send"), so all the code here is ordinary Python, not templates.

Settings chosen for a fair comparison:
- ``NEWSLETTER_EMAIL_DELAY``, ``NEWSLETTER_BATCH_SIZE`` and ``NEWSLETTER_BATCH_DELAY`` are left
  unset. ``Submission.submit()`` sleeps only when they are defined, so unset means no sleep call
  at all (setting them to 0 would still call ``time.sleep(0)`` per message). The throttle is
  there to spare real mail servers; with it the figure would measure the configured sleep.
- ``EMAIL_BACKEND`` is Django's SMTP backend, subclassed only to count delivered messages and
  opened connections (one integer addition each). django-newsletter catches and logs every
  failed send and carries on, so its command reports nothing itself; the subclass gives an exact
  count, and failures are counted from its error log.
- ``DEBUG = False`` (no query log), no TLS, no authentication, ``send_html`` left at its default
  (text and HTML parts, like Kanal), ``NEWSLETTER_THUMBNAIL = "sorl-thumbnail"``, the default.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORKDIR = REPO / "var" / "bench" / "django-newsletter"

TOOL = "django-newsletter"
# django-newsletter 1.2.1 (December 2025) is the latest release; it officially supports the
# Django 4.2 and 5.2 LTS series. Django 5.2.19 is the version Kanal pins, so both sides of the
# ratio run the same Django. sorl-thumbnail is the thumbnailer django-newsletter defaults to and
# imports at start-up (one of it or easy-thumbnails is required); Pillow and chardet are its
# declared dependencies, pinned so a rerun measures the same code.
PINNED_REQUIREMENTS = (
    "django-newsletter==1.2.1",
    "Django==5.2.19",
    "sorl-thumbnail==13.4.0",
    "Pillow==13.0.0",
    "chardet==7.7.0",
)
STAMP_NAME = "kanal-bench-requirements.txt"

PROJECT_PACKAGE = "newsletter_baseline"
SITE_DOMAIN = "news.example.org"
SENDER_EMAIL = "news@example.org"

ARTICLE_TITLE = "Neue Radwege: Was sich im Frühjahr in der Innenstadt ändert"
ARTICLE_URL = "https://news.example.org/artikel/radwege-fruehjahr?src=newsletter"
# About 1,500 characters of HTML with links, comparable to one article of a typical Kanal
# campaign (django-newsletter stores article text as HTML and strips the tags for the text part).
ARTICLE_HTML = (
    "<p>Ab dem 1. April baut die Stadt die ersten drei Abschnitte des neuen Radwegenetzes. "
    "Betroffen sind die Hauptstraße zwischen Bahnhof und Marktplatz, die Uferpromenade und die "
    "Verbindung zum Gewerbegebiet Nord. Während der Bauarbeiten werden Umleitungen ausgeschildert; "
    "Busse fahren weiter nach Plan, einzelne Haltestellen werden um wenige Meter verlegt.</p>"
    "<p>Im Gemeinderat war das Projekt lange umstritten. Kritikerinnen befürchteten weniger "
    "Parkplätze für den Einzelhandel, Befürworter verwiesen auf die Unfallzahlen der letzten fünf "
    "Jahre. Der Kompromiss: Lieferzonen bleiben erhalten, dafür fallen 40 Stellplätze am Straßenrand "
    "weg, die durch das neue Parkhaus am Stadtgarten ersetzt werden.</p>"
    "<p>Was bedeutet das für Sie? Wer mit dem Rad zur Arbeit fährt, soll ab Herbst durchgehend auf "
    "getrennten Wegen unterwegs sein. Fußgängerinnen und Fußgänger bekommen breitere Gehwege und "
    "zusätzliche Querungen. Alle Pläne, Bauabschnitte und Termine finden Sie auf der "
    '<a href="https://news.example.org/radwege/plaene?src=newsletter">Projektseite</a>; Fragen '
    'beantwortet das Bürgerbüro auch in der <a href="https://news.example.org/sprechstunde">offenen '
    "Sprechstunde</a> jeden Donnerstag.</p>"
    "<p>Übrigens: Am 12. April lädt die Stadt zu einer Radtour entlang der künftigen Strecke ein. "
    "Treffpunkt ist um 10 Uhr am Marktplatz, die Teilnahme ist kostenlos. Eine Anmeldung ist nicht "
    "nötig; Leihräder stellt der Fahrradclub in begrenzter Zahl bereit.</p>"
)


class BaselineError(RuntimeError):
    """The baseline could not be run (install, setup or sending failed); the message says why."""


def log(text: str) -> None:
    print(f"[{TOOL}] {text}", file=sys.stderr, flush=True)


# --- parent side: runs in any Python 3.11+, standard library only -------------------------------


def run_baseline(*, recipients: int, smtp_host: str, smtp_port: int, workdir: Path) -> dict:
    """Send one django-newsletter submission to ``recipients`` addresses; return the figures.

    The SMTP server at ``smtp_host:smtp_port`` must already accept mail. Raises
    ``BaselineError`` when the virtualenv cannot be installed or a phase fails.
    """
    if recipients < 1:
        raise BaselineError("--recipients must be at least 1")
    check_smtp_server(smtp_host, smtp_port)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    python = ensure_virtualenv(workdir / "venv")
    project_dir = write_project(workdir / "project")
    database = workdir / "db.sqlite3"
    database.unlink(missing_ok=True)
    result_file = workdir / "send-result.json"
    result_file.unlink(missing_ok=True)

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": f"{PROJECT_PACKAGE}.settings",
        "BASELINE_PROJECT_DIR": str(project_dir),
        "BASELINE_DATABASE": str(database),
        "BASELINE_SMTP_HOST": smtp_host,
        "BASELINE_SMTP_PORT": str(smtp_port),
    }
    log(f"preparing a submission for {recipients:,} recipients in {database}")
    started = time.perf_counter()
    _run_child(python, env, "prepare", "--recipients", str(recipients))
    log(f"prepared in {time.perf_counter() - started:.1f} s (not timed)")

    log(f"sending through {smtp_host}:{smtp_port}")
    _run_child(python, env, "send", "--result-file", str(result_file))
    sent = json.loads(result_file.read_text())
    log(
        f"{sent['messages_sent']:,} sent, {sent['messages_failed']:,} failed, "
        f"{sent['smtp_connections']:,} SMTP connections, Django {sent['django_version']}"
    )
    if sent["first_failure"]:
        log(f"first failure: {sent['first_failure']}")
    if sent["recipients"] != recipients:
        raise BaselineError(f"the submission had {sent['recipients']} recipients, expected {recipients}")
    if sent["messages_sent"] == 0:
        raise BaselineError(f"no message was delivered to {smtp_host}:{smtp_port}")
    seconds = sent["seconds"]
    return {
        "tool": TOOL,
        "version": sent["version"],
        "recipients": recipients,
        "messages_sent": sent["messages_sent"],
        "seconds": round(seconds, 3),
        "messages_per_second": round(sent["messages_sent"] / seconds, 1),
        "peak_rss_mb": round(sent["peak_rss_kb"] / 1024, 1),
    }


def check_smtp_server(host: str, port: int) -> None:
    """Fail before the slow setup when nothing listens at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as error:
        raise BaselineError(f"no SMTP server answers at {host}:{port}: {error}") from error


def ensure_virtualenv(venv: Path) -> Path:
    """Create ``venv`` with the pinned packages unless its stamp says it has them; return its python."""
    python = venv / "bin" / "python"
    stamp = venv / STAMP_NAME
    wanted = "\n".join(PINNED_REQUIREMENTS) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        log(f"reusing {venv}")
        return python
    if venv.exists():
        shutil.rmtree(venv)
    log(f"creating {venv} with {', '.join(PINNED_REQUIREMENTS)}")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=sys.stderr)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *PINNED_REQUIREMENTS], check=True, stdout=sys.stderr
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise BaselineError(f"could not install {TOOL} into {venv}: {error}") from error
    stamp.write_text(wanted)
    return python


def write_project(project_dir: Path) -> Path:
    """Write the minimal Django project (settings, urls, counting mail backend); return its directory."""
    package = project_dir / PROJECT_PACKAGE
    package.mkdir(parents=True, exist_ok=True)
    files = {
        "__init__.py": "",
        "settings.py": PROJECT_SETTINGS,
        "urls.py": PROJECT_URLS,
        "mail.py": PROJECT_MAIL_BACKEND,
    }
    for name, text in files.items():
        (package / name).write_text(textwrap.dedent(text).lstrip())
    return project_dir


def _run_child(python: Path, env: dict, phase: str, *arguments: str) -> None:
    # -I keeps the caller's PYTHONPATH and user site-packages (Kanal's) out of the child.
    command = [str(python), "-I", str(Path(__file__).resolve()), "--phase", phase, *arguments]
    completed = subprocess.run(command, env=env, stdout=sys.stderr, check=False)
    if completed.returncode != 0:
        raise BaselineError(f"the {phase} phase failed with exit code {completed.returncode}")


PROJECT_SETTINGS = """
    import os
    from pathlib import Path

    SECRET_KEY = "baseline-benchmark-only"
    DEBUG = False
    ALLOWED_HOSTS = ["*"]
    USE_TZ = True
    TIME_ZONE = "Europe/Berlin"
    LANGUAGE_CODE = "de"

    INSTALLED_APPS = [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sites",
        "sorl.thumbnail",
        "newsletter",
    ]
    SITE_ID = 1
    ROOT_URLCONF = "newsletter_baseline.urls"
    TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
    DATABASES = {
        "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": Path(os.environ["BASELINE_DATABASE"])}
    }
    DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
    STATIC_URL = "/static/"
    MEDIA_URL = "/media/"

    # Django's SMTP backend, counting what it delivers; plain SMTP to the local sink.
    EMAIL_BACKEND = "newsletter_baseline.mail.CountingSMTPBackend"
    EMAIL_HOST = os.environ["BASELINE_SMTP_HOST"]
    EMAIL_PORT = int(os.environ["BASELINE_SMTP_PORT"])
    EMAIL_USE_TLS = False
    EMAIL_TIMEOUT = 30

    NEWSLETTER_THUMBNAIL = "sorl-thumbnail"
    NEWSLETTER_USE_HTTPS = True
    # NEWSLETTER_EMAIL_DELAY, NEWSLETTER_BATCH_SIZE and NEWSLETTER_BATCH_DELAY stay unset on
    # purpose: Submission.submit() sleeps only when they are defined.
"""

PROJECT_URLS = """
    from django.urls import include, path

    urlpatterns = [path("newsletter/", include("newsletter.urls"))]
"""

PROJECT_MAIL_BACKEND = """
    from django.core.mail.backends.smtp import EmailBackend


    class CountingSMTPBackend(EmailBackend):
        \"\"\"Django's SMTP backend, counting delivered messages and opened connections.\"\"\"

        messages_sent = 0
        connections_opened = 0

        def open(self):
            opened = super().open()
            if opened:
                CountingSMTPBackend.connections_opened += 1
            return opened

        def send_messages(self, email_messages):
            sent = super().send_messages(email_messages)
            CountingSMTPBackend.messages_sent += sent or 0
            return sent
"""


# --- child side: runs inside <workdir>/venv with the generated project on sys.path ----------------


def _setup_django() -> None:
    sys.path.insert(0, os.environ["BASELINE_PROJECT_DIR"])
    import django

    django.setup()


def prepare_submission(recipients: int) -> None:
    """Migrate a fresh database and create one prepared submission for ``recipients`` subscribers."""
    _setup_django()
    from datetime import timedelta

    from django.contrib.sites.models import Site
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone
    from newsletter.models import Article, Message, Newsletter, Submission, Subscription

    call_command("migrate", verbosity=0)
    now = timezone.now()
    with transaction.atomic():
        site = Site.objects.get_current()
        site.domain = site.name = SITE_DOMAIN
        site.save()
        newsletter = Newsletter.objects.create(
            title="Stadtbrief", slug="stadtbrief", email=SENDER_EMAIL, sender="Stadtbrief Redaktion"
        )
        newsletter.site.set([site])
        # bulk_create skips Subscription.save(), so set what it would: subscribed with a date.
        Subscription.objects.bulk_create(
            (
                Subscription(
                    newsletter=newsletter,
                    name_field=f"Leserin {n}",
                    email_field=f"r{n}@example.org",
                    subscribed=True,
                    subscribe_date=now,
                )
                for n in range(recipients)
            ),
            batch_size=5_000,
        )
        message = Message.objects.create(title="Radwege, Haushalt, Stadtfest", slug="ausgabe-1", newsletter=newsletter)
        Article.objects.create(post=message, sortorder=10, title=ARTICLE_TITLE, text=ARTICLE_HTML, url=ARTICLE_URL)
        # "prepared" is what the admin's submit action sets; submit() requires a past publish date.
        submission = Submission.objects.create(
            message=message, newsletter=newsletter, site=site, publish_date=now - timedelta(minutes=1), prepared=True
        )
        through = Submission.subscriptions.through
        through.objects.bulk_create(
            (
                through(submission_id=submission.pk, subscription_id=pk)
                for pk in Subscription.objects.values_list("pk", flat=True).iterator()
            ),
            batch_size=5_000,
        )
    print(f"prepared: {through.objects.count():,} recipients, article of {len(ARTICLE_HTML):,} characters")


def send_submission(result_file: Path) -> None:
    """Run ``submit_newsletter`` once, timed, and write the figures to ``result_file``."""
    _setup_django()
    import logging
    from importlib.metadata import version

    import django
    from django.core.management import call_command
    from newsletter.models import Submission
    from newsletter_baseline.mail import CountingSMTPBackend

    class FailureCounter(logging.Handler):
        def __init__(self) -> None:
            super().__init__(level=logging.ERROR)
            self.failures = 0
            self.first_failure = ""

        def emit(self, record: logging.LogRecord) -> None:
            self.failures += 1
            self.first_failure = self.first_failure or record.getMessage()

    failures = FailureCounter()
    logging.getLogger("newsletter").addHandler(failures)

    submission = Submission.objects.get(prepared=True, sent=False)
    recipients = submission.subscriptions.count()

    started = time.perf_counter()
    call_command("submit_newsletter", verbosity=0)
    seconds = time.perf_counter() - started

    submission.refresh_from_db()
    if not submission.sent:
        raise SystemExit("submit_newsletter returned without marking the submission as sent")
    result = {
        "version": version("django-newsletter"),
        "django_version": django.get_version(),
        "recipients": recipients,
        "messages_sent": CountingSMTPBackend.messages_sent,
        "messages_failed": failures.failures,
        "first_failure": failures.first_failure,
        "smtp_connections": CountingSMTPBackend.connections_opened,
        "seconds": seconds,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    result_file.write_text(json.dumps(result))


# --- command line ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--smtp-host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    # Internal: the parent runs this file again inside the django-newsletter virtualenv.
    parser.add_argument("--phase", choices=["run", "prepare", "send"], default="run", help=argparse.SUPPRESS)
    parser.add_argument("--result-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase == "prepare":
        prepare_submission(args.recipients)
        return
    if args.phase == "send":
        send_submission(args.result_file)
        return
    try:
        result = run_baseline(
            recipients=args.recipients, smtp_host=args.smtp_host, smtp_port=args.smtp_port, workdir=args.workdir
        )
    except BaselineError as error:
        log(f"error: {error}")
        sys.exit(1)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
