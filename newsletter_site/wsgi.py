"""The production entry point (gunicorn ``newsletter_site.wsgi``).

The open pixel and click redirect (``/t/o/…``, ``/t/c/…``) are answered by the lean
``tracking.wsgi.TrackingFastPath`` without Django's middleware; every other request goes to
Django's full application unchanged.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter_site.settings")
django_application = get_wsgi_application()

# Imported only now: the tracking modules need the app registry that django.setup() just filled.
from tracking.wsgi import TrackingFastPath  # noqa: E402

application = TrackingFastPath(django_application)
