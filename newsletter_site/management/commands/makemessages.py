from django.core.management.commands import makemessages


class Command(makemessages.Command):
    """Django's makemessages that also reads the MJML mail layouts (Django templates, like .html;
    with the default extensions their footer strings never reached the catalogue) and skips the
    run-time state in var/ (uploads, collected static files)."""

    def handle(self, *args, **options):
        if options["domain"] == "django" and not options["extensions"]:
            options["extensions"] = ["html", "txt", "py", "mjml"]
        if options["use_default_ignore_patterns"]:
            options["ignore_patterns"] = [*options["ignore_patterns"], "var"]
        return super().handle(*args, **options)
