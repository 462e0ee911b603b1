from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from newsletter_site.media import media_serve

# Kanal's name in the admin instead of "Django administration" (the logo and colours are in
# templates/admin/base_site.html).
admin.site.site_header = "Kanal"
admin.site.site_title = "Kanal"

urlpatterns = [
    # The dashboard's URLs first: the admin's first page leads to it.
    path("", include("dashboard.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("subscribers.urls")),
    path("", include("campaigns.urls")),
    path("", include("surveys.urls")),
    path("", include("tracking.urls")),
    path("", include("offers.urls")),
    path("", include("referrals.urls")),
    path("", include("sharing.urls")),
    path("", include("api.urls")),
    path(settings.MEDIA_URL.strip("/") + "/<path:name>", media_serve, name="media"),
]
# Without a secret Anymail would accept webhooks from anyone; newsletter_site.checks stops a
# start that mounts them anyway.
if getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
    urlpatterns.append(path("anymail/", include("anymail.urls")))
