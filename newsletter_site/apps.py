from django.apps import AppConfig


class NewsletterSiteConfig(AppConfig):
    name = "newsletter_site"

    def ready(self):
        from newsletter_site import checks  # noqa: F401 (registers the checks)
