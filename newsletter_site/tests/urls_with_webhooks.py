"""The site's URLs with the ESP webhooks mounted, as they are once ANYMAIL_WEBHOOK_SECRET is set."""

from django.urls import include, path

from newsletter_site.urls import urlpatterns as site_urlpatterns

urlpatterns = [path("anymail/", include("anymail.urls")), *site_urlpatterns]
