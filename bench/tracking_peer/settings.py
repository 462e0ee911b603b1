"""The project's settings plus the peer pixel's app and URLconf (bench only)."""

from newsletter_site.settings import *  # noqa: F403
from newsletter_site.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tracking_peer"]
ROOT_URLCONF = "tracking_peer.urls"
WSGI_APPLICATION = "tracking_peer.wsgi.application"
