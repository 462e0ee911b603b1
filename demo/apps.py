from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data ``kanal.py up`` seeds (``demo.services``); no models of its own."""

    name = "demo"
