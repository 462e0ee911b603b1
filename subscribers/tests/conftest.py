import re

import pytest
from django.core import mail

from subscribers.tests.factories import ConsentTextFactory, MailingListFactory


@pytest.fixture
def mailing_list(db):
    return MailingListFactory(slug="news", name="Kanal News")


@pytest.fixture
def consent_text(db):
    return ConsentTextFactory(language="de", text="Ja, ich will den Newsletter.")


def links_in_last_mail(pattern: str) -> list[str]:
    body = mail.outbox[-1].body
    return re.findall(rf"https?://\S*{pattern}\S*", body)
