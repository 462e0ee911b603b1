import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns.models import Delivery
from campaigns.tests.factories import CampaignFactory
from offers.models import CampaignOffer, Coupon, CouponAssignment, Offer, Redemption
from offers.services.redemption import offer_redeem
from offers.tests.factories import CouponFactory, OfferFactory
from subscribers.tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


def test_the_offer_page_shows_codes_left_and_the_pool_pages(admin_client, in_english):
    offer = OfferFactory()
    CouponFactory(offer=offer)
    page = admin_client.get(reverse("admin:offers_offer_change", args=[offer.pk])).content.decode()
    assert "codes: 1, left: 1, redeemed: 0" in page
    assert reverse("admin:offers_offer_generate", args=[offer.pk]) in page
    assert reverse("admin:offers_offer_upload", args=[offer.pk]) in page


def test_staff_generate_codes_from_the_admin(admin_client):
    offer = OfferFactory()
    url = reverse("admin:offers_offer_generate", args=[offer.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"pattern": "OSTERN-XXXX-XXXX", "count": "25", "check_character": "on"})
    assert response.status_code == 302
    assert Coupon.objects.filter(offer=offer, code__startswith="OSTERN-").count() == 25


def test_a_guessable_pattern_is_refused_on_the_page(admin_client, in_english):
    offer = OfferFactory()
    response = admin_client.post(reverse("admin:offers_offer_generate", args=[offer.pk]), {"pattern": "X", "count": 5})
    assert response.status_code == 400
    assert "too few X" in response.content.decode()
    assert not Coupon.objects.exists()


def test_staff_upload_codes_and_read_the_report(admin_client, in_english):
    offer = OfferFactory()
    upload = SimpleUploadedFile("codes.csv", b"code\nA-1\nA-1\nbad code\n", content_type="text/csv")
    response = admin_client.post(reverse("admin:offers_offer_upload", args=[offer.pk]), {"csv_file": upload})
    page = response.content.decode()
    assert response.status_code == 200
    assert "1 code added." in page and "1 duplicate." in page and "1 invalid line." in page
    assert Coupon.objects.filter(offer=offer).count() == 1


def test_staff_set_a_shared_code(admin_client):
    offer = OfferFactory()
    admin_client.post(reverse("admin:offers_offer_shared", args=[offer.pk]), {"code": "SOMMER26"})
    offer.refresh_from_db()
    assert offer.code_source == Offer.CodeSource.SHARED
    assert offer.coupons.get().code == "SOMMER26"


def test_staff_mark_codes_as_redeemed_by_hand(admin_client):
    coupons = [CouponFactory(), CouponFactory()]
    admin_client.post(
        reverse("admin:offers_coupon_changelist"),
        {"action": "redeem_manually", "_selected_action": [coupon.pk for coupon in coupons]},
    )
    assert set(Redemption.objects.values_list("coupon", "source")) == {(c.pk, "manual") for c in coupons}


def test_staff_upload_redemptions_and_read_the_report(admin_client, in_english):
    CouponFactory(code="A-1")
    upload = SimpleUploadedFile("shop.csv", b"code,order\nA-1,1001\nZ-9,1002\n", content_type="text/csv")
    listing = admin_client.get(reverse("admin:offers_redemption_changelist")).content.decode()
    assert reverse("admin:offers_redemption_upload") in listing
    response = admin_client.post(reverse("admin:offers_redemption_upload"), {"csv_file": upload})
    page = response.content.decode()
    assert "1 code redeemed." in page and "1 line not redeemed." in page and "Z-9" in page
    assert Redemption.objects.get().order_ref == "1001"


def test_an_offer_with_codes_keeps_its_code_source(admin_client):
    offer = OfferFactory()
    CouponFactory(offer=offer)
    page = admin_client.get(reverse("admin:offers_offer_change", args=[offer.pk])).content.decode()
    assert 'name="code_source"' not in page
    assert 'name="code_source"' in admin_client.get(reverse("admin:offers_offer_add")).content.decode()


def test_the_coupon_list_shows_which_codes_are_redeemed(admin_client):
    used = CouponFactory()
    CouponFactory()
    offer_redeem(code=used.code, source="manual")
    listing = admin_client.get(reverse("admin:offers_coupon_changelist")).content.decode()
    assert (listing.count('alt="True"'), listing.count('alt="False"')) == (1, 1)


def test_staff_put_an_offer_into_a_campaign_and_cannot_swap_it_once_codes_are_given(admin_client, in_english):
    campaign, offer, other = CampaignFactory(), OfferFactory(), OfferFactory()
    before = campaign.updated_at
    response = admin_client.post(
        reverse("admin:offers_campaignoffer_add"), {"campaign": campaign.pk, "offer": offer.pk}
    )
    assert response.status_code == 302
    block = CampaignOffer.objects.get(campaign=campaign)
    campaign.refresh_from_db()
    assert block.offer == offer and campaign.updated_at > before, "workers compile the mail again"

    delivery = Delivery.objects.create(campaign=campaign, subscriber=SubscriberFactory())
    CouponAssignment.objects.create(delivery=delivery, coupon=CouponFactory(offer=offer))
    url = reverse("admin:offers_campaignoffer_change", args=[block.pk])
    response = admin_client.post(url, {"campaign": campaign.pk, "offer": other.pk})
    assert response.status_code == 200 and "it cannot change" in response.content.decode()
    block.refresh_from_db()
    assert block.offer == offer
