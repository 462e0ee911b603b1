import pytest

from subscribers.tests.factories import MailingListFactory, SubscriberFactory, TagFactory
from tracking.tests.conftest import campaign, private_reader, reader  # noqa: F401  (a sent campaign with its links)


@pytest.fixture
def tag(db):
    return TagFactory(name="new")


@pytest.fixture
def other_tag(db):
    return TagFactory(name="welcomed")


@pytest.fixture
def mailing_list(db):
    return MailingListFactory()


@pytest.fixture
def subscriber(db):
    return SubscriberFactory()
