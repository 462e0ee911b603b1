import pytest

from campaigns.tests.factories import ArticleFactory
from subscribers.services.gdpr import subscriber_erase, subscriber_export
from subscribers.tests.factories import SubscriberFactory
from surveys.models import Answer, ArticleFeedback, Response
from surveys.services import article_feedback_record, response_submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(survey):
    subscriber = SubscriberFactory()
    response_submit(
        survey=survey.survey,
        answers={
            survey.nps.pk: 9,
            survey.single.pk: survey.politics.pk,
            survey.free.pk: "Ich heiße Erika und wohne in Köln.",
        },
        subscriber=subscriber,
        source="mail",
    )
    article_feedback_record(article=ArticleFactory(headline="Radwege"), subscriber=subscriber, useful=True)
    return subscriber


def test_export_contains_the_subscribers_answers_and_article_feedback(survey, answered):
    data = subscriber_export(subscriber=answered)["surveys"]
    (response,) = data["responses"]
    assert response["survey"] == survey.survey.title
    assert {"question": survey.nps.text, "value": 9} in response["answers"]
    assert {"question": survey.single.text, "choices": ["Politics"]} in response["answers"]
    assert {"question": survey.free.text, "text": "Ich heiße Erika und wohne in Köln."} in response["answers"]
    assert data["article_feedback"][0]["article"] == "Radwege"
    assert data["article_feedback"][0]["useful"] is True


def test_erase_keeps_scores_anonymously_and_drops_free_text(survey, answered):
    subscriber_erase(subscriber=answered)
    response = Response.objects.get()
    assert response.subscriber is None
    assert Answer.objects.get(question=survey.nps).value == 9
    assert list(Answer.objects.get(question=survey.single).choices.all()) == [survey.politics]
    assert not Answer.objects.filter(question=survey.free).exists()
    assert not Answer.objects.filter(text__contains="Erika").exists()
    feedback = ArticleFeedback.objects.get()
    assert (feedback.subscriber, feedback.useful) == (None, True)
