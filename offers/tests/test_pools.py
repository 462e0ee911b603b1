import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from campaigns.models import Delivery
from offers import codes, selectors
from offers.models import Coupon, CouponAssignment, Offer
from offers.services import alerts, pools
from offers.services.redemption import offer_redeem
from offers.tests.factories import CouponFactory, OfferFactory
from subscribers.import_files import ImportFileError
from surveys.tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db

LOOK_ALIKES = set("ILOU")


# Generating ---------------------------------------------------------------------------------------


def test_generated_codes_follow_the_pattern_without_look_alikes_or_duplicates():
    offer = OfferFactory()
    assert pools.pool_generate(offer=offer, pattern="spring-xxxx-xxxx", count=3000) == 3000
    generated = list(Coupon.objects.filter(offer=offer).values_list("code", flat=True))
    assert len(generated) == len(set(generated)) == 3000
    assert all(re.fullmatch(r"SPRING-[0-9A-Z]{4}-[0-9A-Z]{4}", code) for code in generated)
    random_part = {char for code in generated for char in code.removeprefix("SPRING-")}
    assert not random_part & LOOK_ALIKES
    assert random_part - {"-"} == set(codes.ALPHABET)


def test_generating_again_never_adds_a_code_already_in_the_pool(monkeypatch):
    offer = OfferFactory()
    CouponFactory(offer=offer, code="AAAA-0001")
    CouponFactory(offer=offer, code="aaaa-0002")  # case-insensitive: AAAA-0002 is the same code
    draws = iter([["AAAA-0001", "AAAA-0002", "AAAA-0003"], ["AAAA-0004", "AAAA-0005"]])
    monkeypatch.setattr(codes, "make_codes", lambda pattern, count, check=False: next(draws)[:count])
    assert pools.pool_generate(offer=offer, pattern="AAAA-XXXX", count=3) == 3
    assert sorted(Coupon.objects.filter(offer=offer).values_list("lookup", flat=True)) == [
        "AAAA-0001",
        "AAAA-0002",
        "AAAA-0003",
        "AAAA-0004",
        "AAAA-0005",
    ]


def test_a_check_character_catches_a_mistyped_character():
    offer = OfferFactory()
    pools.pool_generate(offer=offer, pattern="XXXXXXXX", count=50, check_character=True)
    for code in Coupon.objects.filter(offer=offer).values_list("code", flat=True):
        assert codes.is_valid_check(code)
        wrong = "1" if code[3] != "1" else "2"
        assert not codes.is_valid_check(code[:3] + wrong + code[4:])


@pytest.mark.parametrize(("pattern", "count"), [("SPRING-XX", 10), ("XXXX", 2000), ("", 1), ("HAS SPACE-XXXXXX", 1)])
def test_patterns_that_make_guessable_or_broken_codes_are_refused(pattern, count):
    with pytest.raises(ValidationError):
        pools.pool_generate(offer=OfferFactory(), pattern=pattern, count=count)
    assert not Coupon.objects.exists()


def test_a_shared_code_offer_has_no_pool_to_fill():
    offer = OfferFactory(code_source=Offer.CodeSource.SHARED)
    with pytest.raises(ValidationError):
        pools.pool_generate(offer=offer, pattern="XXXXXXXX", count=5)


# Uploading ----------------------------------------------------------------------------------------


def test_an_upload_reports_added_duplicate_and_invalid_lines(in_english):
    offer = OfferFactory()
    CouponFactory(offer=offer, code="OLD-1")
    data = "code\nnew-1\nNEW-2\nold-1\nnew-1\n\nhas space\n" + "X" * 65 + "\nNEW-3\n"
    report = pools.pool_upload(offer=offer, data=data.encode())
    assert report.added == 3
    assert report.duplicates == [(4, "old-1"), (5, "new-1")]
    assert [(line, reason) for line, _text, reason in report.invalid] == [
        (7, "contains spaces, commas, semicolons or control characters"),
        (8, "longer than 64 characters"),
    ]
    assert sorted(Coupon.objects.filter(offer=offer).values_list("code", flat=True)) == [
        "NEW-2",
        "NEW-3",
        "OLD-1",
        "new-1",
    ]


def test_codes_come_from_the_first_column_of_a_semicolon_file():
    offer = OfferFactory()
    report = pools.pool_upload(offer=offer, data=b"Gutscheincode;Wert\nA-1;10 EUR\nA-2;20 EUR\n")
    assert (report.added, report.invalid, report.duplicates) == (2, [], [])
    assert set(Coupon.objects.values_list("code", flat=True)) == {"A-1", "A-2"}


def test_an_upload_without_header_in_windows_encoding_keeps_every_code():
    offer = OfferFactory()
    report = pools.pool_upload(offer=offer, data="GRÜN-1\r\nGRÜN-2\r\n".encode("cp1252"))
    assert report.added == 2
    assert set(Coupon.objects.values_list("code", flat=True)) == {"GRÜN-1", "GRÜN-2"}


@pytest.mark.parametrize("data", [b"", b"  \n", b"\x00\x01\x02binary"])
def test_an_unreadable_file_adds_nothing(data):
    with pytest.raises(ImportFileError):
        pools.pool_upload(offer=OfferFactory(), data=data)
    assert not Coupon.objects.exists()


# Shared code and codes left -----------------------------------------------------------------------


def test_a_shared_code_is_one_code_that_never_runs_out():
    offer = OfferFactory()
    coupon = pools.offer_shared_code_set(offer=offer, code="SOMMER26")
    offer.refresh_from_db()
    assert offer.code_source == Offer.CodeSource.SHARED
    assert list(offer.coupons.all()) == [coupon]
    assert selectors.codes_left(offer=offer) is None
    assert pools.offer_shared_code_set(offer=offer, code="sommer26") == coupon  # again: nothing new


def test_a_pool_with_codes_cannot_become_a_shared_code():
    offer = OfferFactory()
    CouponFactory(offer=offer)
    with pytest.raises(ValidationError):
        pools.offer_shared_code_set(offer=offer, code="SOMMER26")


def test_codes_left_counts_neither_assigned_nor_redeemed_codes():
    offer = OfferFactory()
    free, assigned, redeemed = (CouponFactory(offer=offer) for _ in range(3))
    CouponAssignment.objects.create(coupon=assigned, delivery=DeliveryFactory())
    offer_redeem(code=redeemed.code, source="manual")
    assert selectors.codes_left(offer=offer) == 1
    assert list(selectors.unused_coupons(offer=offer)) == [free]


def test_a_code_goes_to_one_delivery_and_a_delivery_gets_one_code():
    from django.db import IntegrityError, transaction

    offer = OfferFactory()
    first, second = CouponFactory(offer=offer), CouponFactory(offer=offer)
    delivery = DeliveryFactory()
    CouponAssignment.objects.create(coupon=first, delivery=delivery)
    for coupon, to in ((first, DeliveryFactory()), (second, delivery)):
        with pytest.raises(IntegrityError), transaction.atomic():
            CouponAssignment.objects.create(coupon=coupon, delivery=to)
    assert Delivery.objects.get(pk=delivery.pk).coupon_assignment.coupon == first


# The low-pool mail --------------------------------------------------------------------------------


def low_pool_mails():
    return [message for message in mail.outbox if message.metadata.get("kind") == "pool-low"]


def test_staff_get_one_mail_per_crossing_of_the_threshold(offer_keeper, in_english):
    offer = OfferFactory(low_pool_threshold=3)
    coupons = [CouponFactory(offer=offer) for _ in range(3)]
    assert alerts.pool_low_check(offer_id=offer.pk) is False  # 3 left: not below 3
    offer_redeem(code=coupons[0].code, source="manual")
    assert alerts.pool_low_check(offer_id=offer.pk) is True
    offer_redeem(code=coupons[1].code, source="manual")
    assert alerts.pool_low_check(offer_id=offer.pk) is False  # still low: told already
    [message] = low_pool_mails()
    assert message.to == ["keeper@example.org"]
    assert offer.name in message.subject
    assert "1 code left" in message.body or "2 codes left" in message.body

    pools.pool_generate(offer=offer, pattern="XXXXXXXX", count=5)
    assert alerts.pool_low_check(offer_id=offer.pk) is False  # refilled: the warning is forgotten
    Coupon.objects.filter(offer=offer, redemptions__isnull=True).exclude(pk=coupons[2].pk).delete()
    assert alerts.pool_low_check(offer_id=offer.pk) is True
    assert len(low_pool_mails()) == 2


def test_only_staff_who_may_change_offers_get_the_low_pool_mail(offer_keeper):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("reader", "reader@example.org", is_staff=True)
    get_user_model().objects.create_user("gone", "gone@example.org", is_staff=True, is_active=False)
    get_user_model().objects.create_superuser("boss", "boss@example.org", "pw")
    offer = OfferFactory(low_pool_threshold=1)
    alerts.pool_low_check(offer_id=offer.pk)
    assert sorted(address for message in low_pool_mails() for address in message.to) == [
        "boss@example.org",
        "keeper@example.org",
    ]


def test_offers_without_threshold_never_warn(offer_keeper):
    offer = OfferFactory(low_pool_threshold=0)
    assert alerts.pool_low_check(offer_id=offer.pk) is False
    assert not low_pool_mails()
