"""In Chromium: staff build a segment in the editor, watch the live count change, and send to it."""

import pytest
from django.contrib.auth import get_user_model

from audience.models import Segment
from audience.tests.factories import event
from campaigns.models import Campaign, Delivery
from campaigns.services import sending
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory
from tracking.models import Event
from tracking.tests.factories import DeliveryFactory

pytestmark = [pytest.mark.browser]


def test_staff_build_a_segment_see_the_count_change_and_send_to_it(page, live_server, transactional_db, monkeypatch):
    monkeypatch.setattr(sending, "_queue_senders", lambda **kwargs: None)  # the snapshot is what this test checks
    kiez = MailingListFactory(name="Kiez")
    earlier = CampaignFactory(name="Sommerfest")
    people = {}
    for name, consent in (("anna", True), ("ben", True), ("cem", False)):
        people[name] = SubscriberFactory(email=f"{name}@example.org", tracking_consent=consent)
        SubscriptionFactory(mailing_list=kiez, subscriber=people[name])
        delivery = DeliveryFactory(campaign=earlier, subscriber=people[name])
        if name != "ben":
            event(delivery, Event.Kind.OPEN)
    SubscriberFactory(email="elsewhere@example.org")
    get_user_model().objects.create_superuser("chefin", "chefin@example.org", "correct horse battery")

    page.goto(f"{live_server.url}/admin/login/?next=/admin/audience/segment/add/")
    page.locator("#id_username").fill("chefin")
    page.locator("#id_password").fill("correct horse battery")
    page.locator("input[type=submit]").click()
    page.locator("#id_name").fill("Kiez, nicht geöffnet")
    count = page.locator("#segment-editor [data-field=count]")
    left_out = page.locator("#segment-editor [data-field=left_out_for_consent]")
    page.wait_for_function("document.querySelector('#segment-editor [data-field=count]').textContent === '4'")

    page.locator("#segment-editor [data-action=add-condition]").click()
    page.locator("#segment-editor .segment-kind").first.select_option("lists")
    page.locator("#segment-editor [data-param=lists]").select_option(str(kiez.pk))
    page.wait_for_function("document.querySelector('#segment-editor [data-field=count]').textContent === '3'")

    page.locator("#segment-editor [data-action=add-condition]").click()
    page.locator("#segment-editor .segment-kind").nth(1).select_option("not_opened_campaign")
    page.locator("#segment-editor [data-param=campaign]").select_option(str(earlier.pk))
    page.wait_for_function("document.querySelector('#segment-editor [data-field=count]').textContent === '1'")
    assert count.text_content() == "1"
    assert left_out.text_content() == "1"  # cem: no consent, so whether he opened is not looked at
    assert "ben@example.org" in page.locator("#segment-editor [data-field=sample]").text_content()

    page.locator("input[name=_save]").click()
    page.wait_for_url("**/admin/audience/segment/")
    segment = Segment.objects.get()
    assert segment.rules["children"][1]["kind"] == "not_opened_campaign"

    campaign = CampaignFactory(name="Nachfass", mailing_lists=[kiez], segment=segment)
    ArticleFactory(campaign=campaign)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.locator("button[form=campaign-send-now]").click()
    page.wait_for_load_state()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert list(Delivery.objects.filter(campaign=campaign).values_list("subscriber__email", flat=True)) == [
        "ben@example.org"
    ]
