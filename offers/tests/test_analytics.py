"""The "Offers" table on a campaign's analytics page: codes issued, redeemed, rate and order values,
for the whole campaign and per saved segment, on the page and as CSV."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from audience.tests.factories import SegmentFactory, leaf
from campaigns.models import Delivery
from offers.selectors import campaign_offer_figures
from offers.services.redemption import offer_redeem
from offers.tests.factories import OfferFactory, given_code
from subscribers.tests.factories import SubscriberFactory, TagFactory
from tracking.tests.factories import CampaignFactory
from tracking.tests.test_analytics_pages import csv_of, table_rows

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_user("analyst", "analyst@example.org", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_campaign"))
    client.force_login(user)
    return user


@pytest.fixture
def spring():
    """Five codes of one offer with one campaign (one mail failed), three redeemed in two currencies,
    and one code of another offer that nobody redeemed."""
    campaign = CampaignFactory(name="Frühling")
    offer, other = OfferFactory(name="Spring sale"), OfferFactory(name="Autumn preview")
    vip = TagFactory(name="vip")
    readers = [SubscriberFactory(email=f"{name}@example.org", tracking_consent=True) for name in "abcdef"]
    for reader in (readers[0], readers[1], readers[5]):
        reader.tags.add(vip)
    codes = [given_code(offer, reader, campaign=campaign).coupon.code for reader in readers[:4]]
    given_code(offer, readers[4], campaign=campaign, status=Delivery.Status.FAILED)
    given_code(other, readers[5], campaign=campaign)
    given_code(offer, SubscriberFactory(), campaign=CampaignFactory())  # another campaign's code
    offer_redeem(code=codes[0], source="api", order_value="0.10", currency="EUR")
    offer_redeem(code=codes[1], source="csv", order_value="0.20", currency="eur")
    offer_redeem(code=codes[2], source="api", order_value="5", currency="USD", order_ref="US-1")
    return campaign, offer, vip


def test_a_campaigns_offer_figures_count_codes_sent_and_sum_values_per_currency_exactly(spring):
    campaign, _offer, _vip = spring
    autumn, figures = campaign_offer_figures(campaign=campaign)
    assert (figures.offer_name, figures.issued, figures.redeemed, figures.rate) == ("Spring sale", 4, 3, 0.75)
    assert figures.values == {"EUR": Decimal("0.30"), "USD": Decimal("5.00")}
    assert all(isinstance(value, Decimal) for value in figures.values.values())
    assert (autumn.issued, autumn.redeemed, autumn.rate, autumn.values) == (1, 0, 0.0, {})


def test_the_offers_table_shows_the_campaign_and_each_segment(client, staff, spring):
    campaign, _offer, vip = spring
    SegmentFactory(name="VIP", rules={"op": "and", "children": [leaf("tags", tags=[vip.pk])]})
    SegmentFactory(name="Broken", rules={"op": "and", "children": [leaf("tags", tags=[999])]})
    html = client.get(reverse("tracking:analytics_campaign", args=[campaign.pk])).content.decode()
    rows = table_rows(html, "offers")
    assert rows == [
        ["All recipients", "Autumn preview", "1", "0", "0.0 %", "–", "–"],
        ["All recipients", "Spring sale", "4", "3", "75.0 %", "0.30", "5.00"],
        ["Segment “VIP”", "Autumn preview", "1", "0", "0.0 %", "–", "–"],
        ["Segment “VIP”", "Spring sale", "2", "2", "100.0 %", "0.30", "–"],
    ]
    assert "Order value (EUR)" in html and "no figures per shared code or per article" in html


def test_the_offers_table_downloads_as_csv_with_decimal_values(client, staff, spring):
    campaign, _offer, _vip = spring
    rows = csv_of(client.get(reverse("tracking:analytics_campaign_csv", args=[campaign.pk, "offers"])))
    assert rows[0] == [
        "recipients",
        "offer",
        "codes_issued",
        "redeemed",
        "redemption_rate_percent",
        "order_value_eur",
        "order_value_usd",
    ]
    assert rows[2] == ["All recipients", "Spring sale", "4", "3", "75.0", "0.30", "5.00"]


def test_a_campaign_without_codes_has_an_empty_offers_table(client, staff):
    campaign = CampaignFactory()
    SegmentFactory(name="Everyone")
    assert table_rows(
        client.get(reverse("tracking:analytics_campaign", args=[campaign.pk])).content.decode(), "offers"
    ) == [["No figures yet."]]
