"""Django's plain WSGI application with the peer pixel: ``gunicorn tracking_peer.wsgi`` (``bench/`` on the path)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "tracking_peer.settings"
application = get_wsgi_application()
