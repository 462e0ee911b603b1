"""A person's redemptions: on their subscriber page and in their data export."""

import pytest
from django.urls import reverse

from newsletter_site.testing import staff_login
from offers.services.redemption import offer_redeem
from offers.tests.factories import OfferFactory, given_code
from subscribers.services import gdpr
from subscribers.tests.factories import SubscriberFactory
from tracking.tests.factories import CampaignFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


@pytest.fixture
def redeemed():
    reader = SubscriberFactory(email="ana@example.org")
    assignment = given_code(OfferFactory(name="Spring sale"), reader, campaign=CampaignFactory(name="April letter"))
    offer_redeem(code=assignment.coupon.code, source="api", order_ref="SHOP-77", order_value="49.90", currency="EUR")
    return reader, assignment.coupon.code


def test_the_subscriber_page_lists_their_redemptions(client, redeemed):
    reader, code = redeemed
    staff_login(client, "subscribers.view_subscriber", "subscribers.change_subscriber", "offers.view_redemption")
    page = client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk])).content.decode()
    assert "Redemptions (reported by the shop; read-only)" in page
    for text in (code, "Spring sale", "April letter", "SHOP-77", "49.90", "shop (API)"):
        assert text in page, text


def test_staff_who_may_not_view_redemptions_do_not_see_them_on_the_subscriber_page(client, redeemed):
    reader, code = redeemed
    staff_login(client, "subscribers.view_subscriber", "subscribers.change_subscriber")
    page = client.get(reverse("admin:subscribers_subscriber_change", args=[reader.pk])).content.decode()
    assert page and code not in page and "SHOP-77" not in page


def test_the_data_export_names_the_campaign_that_brought_the_code(redeemed):
    reader, code = redeemed
    [row] = gdpr.subscriber_export(subscriber=reader)["redemptions"]
    assert (row["code"], row["campaign"], row["order"], row["order_value"]) == (
        code,
        "April letter",
        "SHOP-77",
        "49.90",
    )
