"""The production entry point (gunicorn ``newsletter_site.wsgi``).

The open pixel and click redirect (``/t/o/…``, ``/t/c/…``) are answered by the lean
``tracking.wsgi.TrackingFastPath`` without Django's middleware, the shop's redemption endpoint
(``/api/offers/redeem``) and the REST API's sign-up (``POST /api/v1/subscribers/``, the very view
the URLconf names: django-ninja's, with its authentication, validation and problem answers) by
``newsletter_site.api_wsgi.ApiFastPath``, the health check and the
Prometheus metrics (``/healthz``, ``/metrics``) by ``dashboard.wsgi.OpsFastPath``; every other
request goes to Django's full application unchanged.
"""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import resolve

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "newsletter_site.settings")
django_application = get_wsgi_application()

# Imported only now: the tracking modules need the app registry that django.setup() just filled.
from dashboard.wsgi import OpsFastPath  # noqa: E402
from newsletter_site.api_wsgi import ApiFastPath  # noqa: E402
from offers import views as offer_views  # noqa: E402
from tracking.wsgi import TrackingFastPath  # noqa: E402

SIGN_UP = "/api/v1/subscribers/"

lean_api_views = {"/api/offers/redeem": offer_views.redeem, f"POST {SIGN_UP}": resolve(SIGN_UP).func}
application = TrackingFastPath(OpsFastPath(ApiFastPath(django_application, lean_api_views)))
