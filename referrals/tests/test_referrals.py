from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from referrals import pages, tokens
from referrals.models import Milestone, MilestoneReward, Referral
from referrals.signals import milestone_reached
from referrals.tests.conftest import REFERRER_IP, confirm_last, link_path, sign_up, token_of
from subscribers import links
from subscribers.models import ConsentRecord, Subscriber
from subscribers.services import data_links, feedback, gdpr, preferences
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, TagFactory

pytestmark = pytest.mark.django_db


def referral_of(email) -> Referral:
    return Referral.objects.get(invitee__email=email)


def test_link_leads_to_the_sign_up_page_with_the_referral_in_the_form_and_stores_nothing(
    client, referrer, mailing_list
):
    response = client.get(link_path(referrer, mailing_list))
    assert response.status_code == 302
    target = urlsplit(response["Location"])
    assert target.path == reverse("subscribers:subscribe", kwargs={"slug": "kiez"})
    token = parse_qs(target.query)["ref"][0]
    page = client.get(response["Location"])
    assert f'name="ref" value="{token}"' in page.text
    assert "referrals/visit" in page.text
    assert not Referral.objects.exists()
    assert not Subscriber.objects.exclude(pk=referrer.pk).exists()


def test_sign_up_through_the_link_is_pending_and_written_into_the_consent_record(client, referrer, mailing_list):
    sign_up(client, mailing_list, email="friend@example.org", ref=token_of(referrer, mailing_list))
    referral = referral_of("friend@example.org")
    assert (referral.referrer, referral.status, referral.credited_at) == (referrer, Referral.Status.PENDING, None)
    record = ConsentRecord.objects.get(subscriber__email="friend@example.org", action=ConsentRecord.Action.SIGNUP)
    assert record.details == {"referral": {"referrer": referrer.pk, "same_device": False}}


def test_referral_is_credited_only_when_the_invitee_confirms(client, referrer, mailing_list):
    sign_up(client, mailing_list, email="friend@example.org", ref=token_of(referrer, mailing_list))
    assert referral_of("friend@example.org").status == Referral.Status.PENDING
    assert confirm_last(client).status_code == 200
    referral = referral_of("friend@example.org")
    assert referral.status == Referral.Status.CREDITED
    assert referral.confirmed_at is not None and referral.credited_at is not None


def test_sign_up_without_a_confirmation_never_counts(client, referrer, mailing_list):
    sign_up(client, mailing_list, email="friend@example.org", ref=token_of(referrer, mailing_list))
    sign_up(client, mailing_list, email="friend@example.org", ref=token_of(referrer, mailing_list))
    assert Referral.objects.get().status == Referral.Status.PENDING
    assert Referral.objects.filter(status=Referral.Status.CREDITED).count() == 0


def test_referral_token_opens_nothing_else(client, referrer, mailing_list):
    token = token_of(referrer, mailing_list)
    for name in ("subscribers:preferences", "subscribers:unsubscribe", "subscribers:one_click_unsubscribe"):
        assert client.get(reverse(name, kwargs={"token": token})).status_code == 404
    assert client.post(reverse("subscribers:one_click_unsubscribe", kwargs={"token": token})).status_code == 404
    assert client.post(reverse("subscribers:data_link_request", kwargs={"token": token})).status_code == 404
    referrer.refresh_from_db()
    assert referrer.status == Subscriber.Status.ACTIVE
    # ... and the other tokens do not work as referral links.
    assert client.get(reverse("referrals:link", kwargs={"token": links.preferences_token(referrer)})).status_code == 404
    device = tokens.make_device_token(public_id=referrer.public_id)
    assert client.get(reverse("referrals:link", kwargs={"token": device})).status_code == 404


def test_referral_link_shows_nothing_of_the_referrer(client, referrer, mailing_list):
    page = client.get(client.get(link_path(referrer, mailing_list))["Location"])
    assert referrer.email not in page.text
    assert referrer.first_name not in page.text


def test_forged_revoked_or_foreign_list_links_name_nobody(client, referrer, mailing_list):
    other = MailingListFactory(slug="anderes")
    token = token_of(referrer, mailing_list)
    assert client.get(reverse("referrals:link", kwargs={"token": token[:-2] + "xx"})).status_code == 404
    sign_up(client, other, email="elsewhere@example.org", ref=token)  # a link for another list
    sign_up(client, mailing_list, email="forged@example.org", ref=token[:-2] + "xx")
    assert not Referral.objects.exists()
    assert Subscriber.objects.filter(email__in=["elsewhere@example.org", "forged@example.org"]).count() == 2
    data_links.subscriber_links_revoke(subscriber=referrer)
    assert client.get(reverse("referrals:link", kwargs={"token": token})).status_code == 404


@pytest.mark.parametrize(
    ("referrer_email", "invitee_email"),
    [
        ("anna.berg@example.org", "Anna.Berg+friend@example.org"),
        ("annaberg@gmail.com", "anna.berg+1@googlemail.com"),
    ],
)
def test_self_referral_by_address_family_is_rejected_with_its_reason(
    client, referrer, mailing_list, referrer_email, invitee_email
):
    Subscriber.objects.filter(pk=referrer.pk).update(email=referrer_email)
    sign_up(client, mailing_list, email=invitee_email, ref=token_of(referrer, mailing_list))
    confirm_last(client)
    referral = Referral.objects.get()
    assert (referral.status, referral.reason) == (Referral.Status.REJECTED, Referral.Reason.SAME_ADDRESS)
    assert referral.confirmed_at is not None


def test_sign_up_from_the_referrers_ip_is_rejected(client, referrer, mailing_list):
    sign_up(client, mailing_list, email="friend@example.org", ref=token_of(referrer, mailing_list), ip=REFERRER_IP)
    referral = referral_of("friend@example.org")
    assert (referral.status, referral.reason) == (Referral.Status.REJECTED, Referral.Reason.SAME_IP)


def test_confirmation_from_the_referrers_ip_earns_nothing(client, referrer, mailing_list):
    sign_up(client, mailing_list, email="friend@example.org", ref=token_of(referrer, mailing_list))
    confirm_last(client, ip=REFERRER_IP)
    referral = referral_of("friend@example.org")
    assert (referral.status, referral.reason) == (Referral.Status.REJECTED, Referral.Reason.SAME_IP)


def test_referrers_ip_counts_only_within_the_window(client, referrer, mailing_list, settings):
    ConsentRecord.objects.filter(subscriber=referrer).update(occurred_at=timezone.now() - timedelta(days=31))
    settings.KANAL_REFERRAL_SELF_WINDOW_DAYS = 30
    sign_up(client, mailing_list, email="friend@example.org", ref=token_of(referrer, mailing_list), ip=REFERRER_IP)
    assert referral_of("friend@example.org").status == Referral.Status.PENDING


def test_sign_up_from_the_browser_that_opened_the_referrers_preference_page_is_rejected(client, referrer, mailing_list):
    page = client.get(reverse("subscribers:preferences", kwargs={"token": links.preferences_token(referrer)}))
    assert pages.DEVICE_COOKIE in page.cookies
    sign_up(client, mailing_list, email="zweitadresse@example.net", ref=token_of(referrer, mailing_list))
    referral = referral_of("zweitadresse@example.net")
    assert (referral.status, referral.reason) == (Referral.Status.REJECTED, Referral.Reason.SAME_DEVICE)


def test_disposable_domain_is_rejected(client, referrer, mailing_list):
    sign_up(client, mailing_list, email="kurz@mailinator.com", ref=token_of(referrer, mailing_list))
    referral = referral_of("kurz@mailinator.com")
    assert (referral.status, referral.reason) == (Referral.Status.REJECTED, Referral.Reason.DISPOSABLE)


def test_someone_who_had_subscribed_before_earns_nothing(client, referrer, mailing_list):
    known = SubscriberFactory(email="known@example.org", status=Subscriber.Status.UNSUBSCRIBED)
    ConsentRecord.objects.create(subscriber=known, action=ConsentRecord.Action.CONFIRM)
    sign_up(client, mailing_list, email="known@example.org", ref=token_of(referrer, mailing_list))
    referral = referral_of("known@example.org")
    assert (referral.status, referral.reason) == (Referral.Status.REJECTED, Referral.Reason.KNOWN)


def test_credits_beyond_the_daily_limit_are_rejected(client, referrer, mailing_list, settings):
    settings.KANAL_REFERRAL_CREDITS_PER_DAY = 2
    for number in range(3):
        sign_up(client, mailing_list, email=f"friend{number}@example.org", ref=token_of(referrer, mailing_list))
        confirm_last(client)
    statuses = list(Referral.objects.order_by("pk").values_list("status", "reason"))
    assert statuses == [
        (Referral.Status.CREDITED, ""),
        (Referral.Status.CREDITED, ""),
        (Referral.Status.REJECTED, Referral.Reason.DAILY_CAP),
    ]


def credited_friend(client, referrer, mailing_list, email="friend@example.org"):
    sign_up(client, mailing_list, email=email, ref=token_of(referrer, mailing_list))
    confirm_last(client)
    referral = referral_of(email)
    assert referral.status == Referral.Status.CREDITED
    return referral


def test_invitee_who_unsubscribes_soon_takes_the_credit_back(client, referrer, mailing_list):
    referral = credited_friend(client, referrer, mailing_list)
    preferences.subscriber_unsubscribe(subscriber=referral.invitee, source="test")
    referral.refresh_from_db()
    assert (referral.status, referral.reason) == (Referral.Status.REVOKED, Referral.Reason.UNSUBSCRIBED)
    assert referral.revoked_at is not None


def test_invitee_who_bounces_soon_takes_the_credit_back(client, referrer, mailing_list):
    referral = credited_friend(client, referrer, mailing_list)
    feedback.esp_event_record(
        event_id="bounce-1",
        esp_name="test",
        event_type="bounced",
        recipient="friend@example.org",
        message_id="",
        timestamp=timezone.now(),
        reject_reason="bounced",
        description="",
        bounce_type="hard",
    )
    referral.refresh_from_db()
    assert (referral.status, referral.reason) == (Referral.Status.REVOKED, Referral.Reason.BOUNCED)


def test_leaving_after_the_revoke_window_keeps_the_credit(client, referrer, mailing_list, settings):
    referral = credited_friend(client, referrer, mailing_list)
    Referral.objects.filter(pk=referral.pk).update(credited_at=timezone.now() - timedelta(days=31))
    settings.KANAL_REFERRAL_REVOKE_DAYS = 30
    preferences.subscriber_unsubscribe(subscriber=referral.invitee, source="test")
    referral.refresh_from_db()
    assert referral.status == Referral.Status.CREDITED


def test_milestones_give_their_reward_exactly_once(client, referrer, mailing_list, settings):
    settings.KANAL_REFERRAL_CREDITS_PER_DAY = 10
    first, third = TagFactory(name="empfiehlt"), TagFactory(name="botschafterin")
    Milestone.objects.create(referrals=1, reward="tag", tag=first)
    Milestone.objects.create(referrals=3, reward="tag", tag=third)
    reached = []

    def record(sender, referrer, milestone, **kwargs):
        reached.append((referrer.pk, milestone.referrals))

    milestone_reached.connect(record)
    try:
        one = credited_friend(client, referrer, mailing_list, "friend1@example.org")
        credited_friend(client, referrer, mailing_list, "friend2@example.org")
        # One credit taken back and another earned: the first milestone is not given again.
        preferences.subscriber_unsubscribe(subscriber=one.invitee, source="test")
        credited_friend(client, referrer, mailing_list, "friend3@example.org")
        credited_friend(client, referrer, mailing_list, "friend4@example.org")
    finally:
        milestone_reached.disconnect(record)
    assert reached == [(referrer.pk, 1), (referrer.pk, 3)]
    assert sorted(MilestoneReward.objects.values_list("milestone__referrals", flat=True)) == [1, 3]
    assert set(referrer.tags.values_list("name", flat=True)) == {"empfiehlt", "botschafterin"}


def test_preference_page_shows_the_link_and_the_confirmed_count(client, referrer, mailing_list, in_english):
    Subscriber.objects.filter(pk=referrer.pk).update(language="en")  # the page speaks the reader's language
    credited_friend(client, referrer, mailing_list)
    sign_up(client, mailing_list, email="pending@example.org", ref=token_of(referrer, mailing_list))
    page = client.get(reverse("subscribers:preferences", kwargs={"token": links.preferences_token(referrer)}))
    assert "1 friend has confirmed a subscription through your link so far." in page.text
    assert link_path(referrer, mailing_list) in page.text


def test_gdpr_export_shows_referrals_to_both_sides_without_the_other_persons_address(client, referrer, mailing_list):
    referral = credited_friend(client, referrer, mailing_list)
    made = gdpr.subscriber_export(subscriber=referrer)["referrals"]
    received = gdpr.subscriber_export(subscriber=referral.invitee)["referrals"]
    assert [row["status"] for row in made["made"]] == ["credited"]
    assert [row["status"] for row in received["received"]] == ["credited"]
    assert "friend@example.org" not in str(made)
    assert referrer.email not in str(received)


def test_erasing_either_side_keeps_an_anonymous_count(client, referrer, mailing_list):
    Milestone.objects.create(referrals=1, reward="none")
    referral = credited_friend(client, referrer, mailing_list)
    gdpr.subscriber_erase(subscriber=referral.invitee)
    referral.refresh_from_db()
    assert referral.invitee is None and referral.status == Referral.Status.CREDITED
    gdpr.subscriber_erase(subscriber=referrer)
    referral.refresh_from_db()
    assert referral.referrer is None
    assert not MilestoneReward.objects.exists()


def test_visits_are_counted_by_a_post_from_the_sign_up_page_only(client, referrer, mailing_list, in_english):
    from referrals.models import ReferralVisit

    client.get(client.get(link_path(referrer, mailing_list))["Location"])
    assert not ReferralVisit.objects.exists()
    assert client.post(reverse("referrals:visit"), {"ref": token_of(referrer, mailing_list)}).status_code == 204
    assert client.post(reverse("referrals:visit"), {"ref": "forged"}).status_code == 400
    assert ReferralVisit.objects.get().visits == 1


@override_settings(KANAL_REFERRAL_CREDITS_PER_DAY=10)
def test_staff_page_shows_funnel_top_referrers_and_growth_share(
    client, referrer, mailing_list, admin_client, in_english
):
    client.post(reverse("referrals:visit"), {"ref": token_of(referrer, mailing_list)})
    credited_friend(client, referrer, mailing_list, "friend1@example.org")
    sign_up(client, mailing_list, email="kurz@mailinator.com", ref=token_of(referrer, mailing_list))
    other = SubscriberFactory(email="direct@example.org")
    SubscriptionFactory(subscriber=other, mailing_list=mailing_list, confirmed_at=timezone.now())
    page = admin_client.get(reverse("referrals:analytics"))
    assert page.status_code == 200
    funnel = page.context["funnel"]
    assert (funnel.visits, funnel.signups, funnel.confirmations, funnel.credits, funnel.rejected) == (1, 2, 1, 1, 1)
    assert page.context["top"][0]["referrer__email"] == referrer.email
    (month,) = page.context["growth"]
    assert (month["confirmed"], month["referred"], month["share"]) == (2, 1, "50.0")
    csv = admin_client.get(reverse("referrals:analytics_growth_csv"))
    assert b"50.0" in b"".join(csv.streaming_content)


def test_a_form_shown_again_after_an_error_keeps_the_referral_but_counts_no_second_visit(
    client, referrer, mailing_list
):
    token = token_of(referrer, mailing_list)
    response = sign_up(client, mailing_list, email="not an address", ref=token)
    assert response.status_code == 400
    assert f'name="ref" value="{token}"' in response.text
    assert "referrals/visit" not in response.text


def test_top_referrers_show_addresses_only_to_staff_who_may_view_subscribers(client, referrer, mailing_list):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    credited_friend(client, referrer, mailing_list)
    staff = get_user_model().objects.create_user("analyst", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_referral"))
    client.force_login(staff)
    page = client.get(reverse("referrals:analytics"))
    assert referrer.email not in page.text
    assert f"#{referrer.pk}" in page.text


def test_a_tag_milestone_needs_its_tag_and_at_least_one_referral(in_english):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        Milestone(referrals=0, reward="tag").full_clean()
    assert set(error.value.message_dict) == {"tag", "referrals"}
    Milestone(referrals=1, reward="tag", tag=TagFactory()).full_clean()


def test_the_referral_list_in_the_admin_shows_status_and_reason_and_links_the_figures(
    client, referrer, mailing_list, admin_client, in_english
):
    sign_up(client, mailing_list, email="kurz@mailinator.com", ref=token_of(referrer, mailing_list))
    page = admin_client.get(reverse("admin:referrals_referral_changelist"))
    assert "throwaway address domain" in page.text
    assert "rejected" in page.text
    assert reverse("referrals:analytics") in page.text
