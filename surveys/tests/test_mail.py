"""The survey block and the feedback links in campaign mails: signed per delivery, readable
in HTML and in the plain-text part, preview links where no delivery exists."""

import email
import email.policy
import re
from html import unescape
from urllib.parse import urlsplit

import pytest
from django.core import mail as outbox

from campaigns.mime import MailHeaders, MessageSkeleton
from campaigns.models import Delivery
from campaigns.previews import compile_for_display, neutral_recipient
from campaigns.rendering import RecipientContext, compile_campaign
from campaigns.services import sending
from campaigns.services.test_send import campaign_send_test
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from surveys import tokens
from surveys.mail import AnswerLinks
from surveys.models import Question
from surveys.tests.factories import ChoiceFactory, QuestionFactory, SurveyFactory

pytestmark = pytest.mark.django_db

READER = RecipientContext(email="erika@example.org", first_name="Erika", unsubscribe_url="u", preferences_url="p")


def hrefs(html: str, prefix: str) -> list[str]:
    found = [unescape(href) for href in re.findall(r'href="([^"]+)"', html)]
    return [href for href in found if urlsplit(href).path.startswith(prefix)]


def personal(compiled, delivery_id: int) -> RecipientContext:
    survey_urls, feedback_urls = AnswerLinks(
        survey=compiled.survey, feedback_article_ids=compiled.feedback_article_ids
    ).for_delivery(delivery_id)
    return RecipientContext(email=READER.email, survey_urls=survey_urls, feedback_urls=feedback_urls)


def attach(survey, campaign):
    survey.campaign = campaign
    survey.save(update_fields=["campaign"])


def test_nps_first_question_becomes_eleven_signed_buttons_for_the_delivery(survey):
    campaign = CampaignFactory()
    ArticleFactory(campaign=campaign)
    attach(survey.survey, campaign)
    compiled = compile_campaign(campaign)
    rendered = compiled.render(personal(compiled, 4711))

    buttons = hrefs(rendered.html, "/s/a/")
    assert len(buttons) == 11
    read = [tokens.verify_answer(url.rsplit("/", 1)[1]) for url in buttons]
    assert read == [(4711, survey.nps.pk, value) for value in range(11)]
    assert survey.nps.text in rendered.html and survey.survey.title in rendered.html
    assert 'role="presentation"' in rendered.html, "a table, which every mail program lays out"
    # The plain-text part lists the same links, one per line, after the score.
    for value, url in enumerate(buttons):
        assert f"\n{value}: {url}\n" in rendered.text
    other = compiled.render(personal(compiled, 4712))
    assert set(hrefs(other.html, "/s/a/")).isdisjoint(buttons), "every delivery has its own links"


def test_rating_and_single_choice_questions_become_their_own_buttons():
    rating_survey = SurveyFactory(campaign=CampaignFactory())
    QuestionFactory(survey=rating_survey, kind=Question.Kind.RATING, text="Wie fanden Sie es?", position=0)
    compiled = compile_campaign(rating_survey.campaign)
    html = compiled.render(personal(compiled, 5)).html
    assert [tokens.verify_answer(u.rsplit("/", 1)[1])[2] for u in hrefs(html, "/s/a/")] == [1, 2, 3, 4, 5]
    assert "5 ★" in html

    choice_survey = SurveyFactory(campaign=CampaignFactory())
    single = QuestionFactory(survey=choice_survey, kind=Question.Kind.SINGLE_CHOICE, text="Lieblingsthema?")
    politics = ChoiceFactory(question=single, text="Politik & Wirtschaft")
    culture = ChoiceFactory(question=single, text="Kultur")
    compiled = compile_campaign(choice_survey.campaign)
    rendered = compiled.render(personal(compiled, 5))
    urls = hrefs(rendered.html, "/s/a/")
    assert [tokens.verify_answer(u.rsplit("/", 1)[1])[2] for u in urls] == [politics.pk, culture.pk]
    assert "Politik &amp; Wirtschaft" in rendered.html
    assert f"1. Politik & Wirtschaft: {urls[0]}" in rendered.text, "a numbered list in the text part"
    assert f"2. Kultur: {urls[1]}" in rendered.text


@pytest.mark.parametrize("kind", [Question.Kind.MULTIPLE_CHOICE, Question.Kind.FREE_TEXT])
def test_other_first_questions_get_one_button_that_opens_the_survey(kind):
    survey = SurveyFactory(campaign=CampaignFactory())
    QuestionFactory(survey=survey, kind=kind, position=0)
    compiled = compile_campaign(survey.campaign)
    rendered = compiled.render(personal(compiled, 8))
    assert hrefs(rendered.html, "/s/a/") == []
    (button,) = hrefs(rendered.html, "/s/o/")
    assert tokens.verify_open(button.rsplit("/", 1)[1]) == (8, survey.pk)
    assert button in rendered.text


def test_a_campaign_without_survey_or_feedback_has_no_answer_links():
    campaign = CampaignFactory()
    ArticleFactory(campaign=campaign)
    SurveyFactory(campaign=campaign)  # a survey without questions shows nothing either
    compiled = compile_campaign(campaign)
    assert not compiled.has_answer_links
    rendered = compiled.render(READER)
    assert "/s/" not in rendered.html and "/s/" not in rendered.text


def test_feedback_links_under_every_article_only_when_enabled():
    campaign = CampaignFactory(article_feedback_enabled=True)
    first = ArticleFactory(campaign=campaign, position=0)
    second = ArticleFactory(campaign=campaign, position=1)
    compiled = compile_campaign(campaign)
    rendered = compiled.render(personal(compiled, 21))
    read = [tokens.verify_feedback(url.rsplit("/", 1)[1]) for url in hrefs(rendered.html, "/s/f/")]
    assert read == [(21, first.pk, True), (21, first.pk, False), (21, second.pk, True), (21, second.pk, False)]
    assert rendered.text.count("/s/f/") == 4
    html = rendered.html
    assert html.index(first.headline) < html.index("/s/f/") < html.index(second.headline), "under its article"

    campaign.article_feedback_enabled = False
    campaign.save()
    assert "/s/f/" not in compile_campaign(campaign).render(READER).html


def test_previews_test_mails_and_the_archive_carry_links_that_store_nothing(survey, settings):
    campaign = CampaignFactory(article_feedback_enabled=True, archive_enabled=True)
    ArticleFactory(campaign=campaign)
    attach(survey.survey, campaign)
    html = compile_for_display(campaign).render(neutral_recipient(campaign)).html
    assert hrefs(html, "/s/a/") == [] and hrefs(html, "/s/f/") == []
    previews = hrefs(html, "/s/p/")
    assert len(previews) == 11 + 2
    read = [tokens.verify_preview(url.rsplit("/", 1)[1]) for url in previews]
    article_id = campaign.articles.get().pk
    assert read[:2] == [(tokens.PREVIEW_FEEDBACK, article_id, 1), (tokens.PREVIEW_FEEDBACK, article_id, 0)]
    assert read[2:] == [(tokens.PREVIEW_ANSWER, survey.nps.pk, value) for value in range(11)]

    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    campaign_send_test(campaign=campaign, addresses=["staff@example.org"], recipient=neutral_recipient(campaign))
    sent = outbox.outbox[-1]
    assert len(hrefs(sent.alternatives[0][0], "/s/p/")) == 13 and "/s/a/" not in sent.body


def test_prebuilt_mime_carries_the_links_intact_in_both_parts(survey):
    campaign = CampaignFactory(article_feedback_enabled=True)
    ArticleFactory(campaign=campaign)
    attach(survey.survey, campaign)
    compiled = compile_campaign(campaign)
    recipient = personal(compiled, 99)
    skeleton = MessageSkeleton(compiled, from_header=campaign.from_header, campaign_id=campaign.pk)
    data = skeleton.build(recipient, MailHeaders(to=READER.email, message_id="<a@b>", list_unsubscribe="<u>"))
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    assert hrefs(html, "/s/a/") == list(recipient.survey_urls)
    assert hrefs(html, "/s/f/") == list(recipient.feedback_urls)
    for url in [*recipient.survey_urls, *recipient.feedback_urls]:
        assert url in text


@pytest.fixture
def newsletter(survey):
    news = MailingListFactory()
    campaign = CampaignFactory(mailing_lists=[news], article_feedback_enabled=True)
    ArticleFactory(campaign=campaign, headline="Einziger Artikel")
    attach(survey.survey, campaign)
    readers = [SubscriptionFactory(mailing_list=news, subscriber=SubscriberFactory()).subscriber for _ in range(3)]
    return campaign, readers


def send(campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        sending.campaign_start(campaign=campaign)
    while sending.delivery_batch_send(campaign_id=campaign.pk).more_to_send:
        pass


@pytest.mark.parametrize("tracking_consent", [True, False])
def test_each_sent_mail_carries_answer_links_of_its_own_delivery(
    newsletter, django_capture_on_commit_callbacks, tracking_consent, survey
):
    campaign, readers = newsletter
    for reader in readers:
        reader.tracking_consent = tracking_consent
        reader.save(update_fields=["tracking_consent"])
    send(campaign, django_capture_on_commit_callbacks)
    assert len(outbox.outbox) == 3
    deliveries = {d.subscriber.email: d.pk for d in Delivery.objects.select_related("subscriber")}
    for message in outbox.outbox:
        delivery_id = deliveries[message.anymail_test_params["to"][0].addr_spec]
        html = message.alternatives[0][0]
        answers = [tokens.verify_answer(url.rsplit("/", 1)[1]) for url in hrefs(html, "/s/a/")]
        assert answers == [(delivery_id, survey.nps.pk, value) for value in range(11)]
        feedback = [tokens.verify_feedback(url.rsplit("/", 1)[1]) for url in hrefs(html, "/s/f/")]
        assert [item[0] for item in feedback] == [delivery_id, delivery_id]
        assert message.body.count("/s/a/") == 11 and message.body.count("/s/f/") == 2


def test_esp_batch_sends_fill_the_answer_links_per_recipient(newsletter, django_capture_on_commit_callbacks, settings):
    settings.KANAL_ESP_MERGE_FIELD_FORMAT = "%recipient.{}%"
    campaign, _readers = newsletter
    send(campaign, django_capture_on_commit_callbacks)
    (message,) = outbox.outbox
    params = message.anymail_test_params
    deliveries = {d.subscriber.email: d.pk for d in Delivery.objects.select_related("subscriber")}
    for address in (recipient.addr_spec for recipient in message.anymail_test_params["to"]):
        values = params["merge_data"][address]
        html = re.sub(r"%recipient\.(kanal_\w+)%", lambda m, v=values: v[m.group(1)], message.alternatives[0][0])
        ids = {tokens.verify_answer(url.rsplit("/", 1)[1])[0] for url in hrefs(html, "/s/a/")}
        assert ids == {deliveries[address]}
