import pytest

from subscribers.tests.factories import MailingListFactory, SubscriberFactory, TagFactory


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
