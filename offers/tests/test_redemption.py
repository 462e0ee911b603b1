from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from offers.models import CouponAssignment, Offer, Redemption
from offers.selectors import subscriber_redemptions_export
from offers.services.claims import coupon_claim
from offers.services.redemption import RedemptionError, offer_redeem
from offers.services.redemption_upload import redemptions_upload
from offers.tests.factories import CouponFactory, OfferFactory
from subscribers.import_files import ImportFileError
from subscribers.services import gdpr
from subscribers.tests.factories import SubscriberFactory
from surveys.tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def refused(kind, **kwargs):
    with pytest.raises(RedemptionError) as error:
        offer_redeem(**{"source": "api", **kwargs})
    assert error.value.kind == kind
    return error.value


def test_a_code_is_redeemed_with_its_order_value_case_insensitively():
    coupon = CouponFactory(code="SPRING-AB12")
    outcome = offer_redeem(code=" spring-ab12 ", source="api", order_value="49,90", currency="eur", order_ref="A-1")
    assert outcome.created
    redemption = Redemption.objects.get()
    assert (redemption.coupon, redemption.order_value, redemption.currency) == (coupon, Decimal("49.90"), "EUR")
    assert redemption.shared is False


def test_reporting_the_same_redemption_again_returns_it():
    CouponFactory(code="SPRING-AB12")
    first = offer_redeem(code="SPRING-AB12", source="api", order_ref="A-1", order_value=10, currency="EUR")
    again = offer_redeem(code="SPRING-AB12", source="api", order_ref="A-1", order_value=10, currency="EUR")
    without_order = offer_redeem(code="spring-ab12", source="csv")
    assert again.redemption == without_order.redemption == first.redemption
    assert (again.created, without_order.created) == (False, False)
    assert Redemption.objects.count() == 1


def test_a_replay_of_a_pool_code_is_one_query_and_returns_the_stored_redemption(django_assert_num_queries):
    delivery = DeliveryFactory()
    coupon = CouponFactory(code="SPRING-AB12")
    CouponAssignment.objects.create(coupon=coupon, delivery=delivery)
    first = offer_redeem(code="SPRING-AB12", source="api", order_ref="A-1", order_value="12.5", currency="EUR")
    with django_assert_num_queries(1):  # the code with its offer, assignment and redemption
        again = offer_redeem(code="spring-ab12", source="api", order_ref="A-1")
    stored = Redemption.objects.get()
    fields = [field.attname for field in Redemption._meta.concrete_fields]
    assert [getattr(again.redemption, name) for name in fields] == [getattr(stored, name) for name in fields]
    assert again.redemption == first.redemption and not again.created
    assert (stored.subscriber_id, stored.delivery_id) == (delivery.subscriber_id, delivery.pk)
    assert again.redemption.coupon.code == "SPRING-AB12" and again.redemption.order_value == Decimal("12.50")


def test_a_replay_after_the_deadline_still_gets_its_redemption():
    coupon = CouponFactory()
    first = offer_redeem(code=coupon.code, source="api", order_ref="A-1")
    Offer.objects.filter(pk=coupon.offer_id).update(expires_at=timezone.now() - timedelta(days=1))
    assert offer_redeem(code=coupon.code, source="api", order_ref="A-1").redemption == first.redemption


def test_an_unknown_code_is_refused():
    CouponFactory(code="SPRING-AB12")
    refused(RedemptionError.UNKNOWN, code="SPRING-AB13")
    refused(RedemptionError.INVALID, code="  ")
    assert not Redemption.objects.exists()


def test_an_expired_code_is_refused(in_english):
    coupon = CouponFactory(offer=OfferFactory(expires_at=timezone.now() - timedelta(minutes=1)))
    error = refused(RedemptionError.EXPIRED, code=coupon.code)
    assert "ended" in str(error)
    assert not Redemption.objects.exists()


def test_a_code_redeemed_with_another_order_is_refused():
    coupon = CouponFactory()
    offer_redeem(code=coupon.code, source="api", order_ref="A-1")
    refused(RedemptionError.REDEEMED, code=coupon.code, order_ref="B-2")
    assert Redemption.objects.get().order_ref == "A-1"


@pytest.mark.parametrize(
    ("field", "value"), [("order_value", "zehn"), ("order_value", -1), ("order_value", True), ("currency", "EURO")]
)
def test_bad_order_fields_are_refused_and_nothing_is_stored(field, value):
    coupon = CouponFactory()
    refused(RedemptionError.INVALID, code=coupon.code, **{"currency": "EUR", field: value})
    assert not Redemption.objects.exists()


def test_an_order_value_needs_a_currency():
    refused(RedemptionError.INVALID, code=CouponFactory().code, order_value="10")


def test_an_assigned_code_knows_its_subscriber_and_delivery():
    coupon = CouponFactory()
    delivery = DeliveryFactory()
    CouponAssignment.objects.create(coupon=coupon, delivery=delivery)
    redemption = offer_redeem(code=coupon.code, source="api").redemption
    assert (redemption.subscriber, redemption.delivery) == (delivery.subscriber, delivery)


def test_a_code_given_outside_a_mail_is_redeemed_for_its_holder():
    coupon, holder = CouponFactory(), SubscriberFactory()
    assert coupon_claim(offer=coupon.offer, subscriber=holder).coupon == coupon
    assert coupon_claim(offer=coupon.offer, subscriber=SubscriberFactory()) is None, "the pool is empty now"
    redemption = offer_redeem(code=coupon.code, source="api", subscriber=SubscriberFactory()).redemption
    assert (redemption.subscriber, redemption.delivery) == (holder, None)


def test_a_shared_code_is_redeemed_once_per_subscriber_and_once_per_order():
    offer = OfferFactory(code_source=Offer.CodeSource.SHARED)
    CouponFactory(offer=offer, code="SOMMER26")
    anna, ben = SubscriberFactory(), SubscriberFactory()
    first = offer_redeem(code="SOMMER26", source="api", subscriber=anna, order_ref="A-1")
    assert offer_redeem(code="sommer26", source="api", subscriber=anna).redemption == first.redemption
    refused(RedemptionError.REDEEMED, code="SOMMER26", subscriber=anna, order_ref="A-2")
    assert offer_redeem(code="SOMMER26", source="api", subscriber=ben, order_ref="B-1").created
    assert offer_redeem(code="SOMMER26", source="api", order_ref="C-1").created
    assert offer_redeem(code="SOMMER26", source="api", order_ref="C-1").created is False
    refused(RedemptionError.INVALID, code="SOMMER26")  # neither order nor subscriber: cannot be idempotent
    assert Redemption.objects.filter(shared=True).count() == 3


def test_the_same_text_in_two_offers_needs_the_offer_unless_one_has_ended():
    running, other = OfferFactory(), OfferFactory()
    CouponFactory(offer=running, code="ZWEIMAL")
    CouponFactory(offer=other, code="ZWEIMAL")
    refused(RedemptionError.AMBIGUOUS, code="ZWEIMAL")
    assert offer_redeem(code="ZWEIMAL", source="api", offer_id=other.pk).redemption.offer == other
    Offer.objects.filter(pk=other.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert offer_redeem(code="ZWEIMAL", source="api", order_ref="X").redemption.offer == running


def test_a_csv_of_redemptions_reports_each_line(in_english):
    offer = OfferFactory()
    for code in ("A-1", "A-2", "A-3"):
        CouponFactory(offer=offer, code=code)
    offer_redeem(code="A-3", source="api", order_ref="1003")
    reader = SubscriberFactory(email="leserin@example.org")
    data = (
        "Bestellnummer;Gutscheincode;Betrag;Währung;E-Mail;Datum\n"
        "1001;a-1;19,99;EUR;Leserin@example.org;2026-03-01\n"
        "1002;A-9;5;EUR;;\n"
        "1003;A-3;;;;\n"
        "1004;A-3;;;;\n"
        "\n"
        "1005;A-2;zehn;EUR;;\n"
        "1006;A-2;;;;2026-02-30\n"
    )
    report = redemptions_upload(data=data.encode())
    assert report.redeemed == [(2, "a-1")]
    assert report.replays == [(4, "A-3")]
    assert [(line, code) for line, code, _reason in report.errors] == [(3, "A-9"), (5, "A-3"), (7, "A-2"), (8, "A-2")]
    redemption = Redemption.objects.get(coupon__code="A-1")
    assert (redemption.subscriber, redemption.source, redemption.order_value) == (reader, "csv", Decimal("19.99"))
    assert timezone.localtime(redemption.redeemed_at).isoformat().startswith("2026-03-01T12:00")


def test_a_csv_without_a_code_column_redeems_nothing():
    CouponFactory(code="A-1")
    with pytest.raises(ImportFileError):
        redemptions_upload(data=b"order,value\n1,A-1\n")
    assert not Redemption.objects.exists()


def test_redemptions_are_in_the_subscribers_data_export():
    coupon = CouponFactory(code="A-1")
    reader = SubscriberFactory()
    offer_redeem(code="A-1", source="api", subscriber=reader, order_value="5", currency="EUR")
    assert subscriber_redemptions_export in gdpr.EXPORT_SECTIONS
    exported = gdpr.subscriber_export(subscriber=reader)["redemptions"]
    assert exported[0]["code"] == "A-1" and exported[0]["offer"] == coupon.offer.name
