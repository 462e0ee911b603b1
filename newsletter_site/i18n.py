"""The language of pages a subscriber opens from a mail."""

from django.conf import settings
from django.utils import translation


def activate_reader_language(request, language: str) -> None:
    """Speak ``language`` (the subscriber's or the mail's) on a page opened from a mail link, unless
    the visitor chose a language on the site: a browser's Accept-Language is often not its reader's."""
    known = dict(settings.LANGUAGES)
    if request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) in known or language not in known:
        return
    translation.activate(language)
    request.LANGUAGE_CODE = translation.get_language()
