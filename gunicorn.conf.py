"""gunicorn's settings file, which gunicorn reads from its working directory (the repository root:
the Dockerfile's WORKDIR, Compose, ``kanal.py``): with ``KANAL_LOG_FORMAT=json`` gunicorn's own
lines (starting, booting a worker, a worker timed out) are JSON lines like Kanal's, not text."""

import os

if os.environ.get("KANAL_LOG_FORMAT", "text").lower() == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "newsletter_site.log_format.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
        "root": {"handlers": ["console"], "level": "INFO"},
    }
