"""``/api/v1/surveys/``: surveys, and responses that name only respondents who allow it."""

import uuid

import pytest

from api.tests.conftest import assert_problem, call, make_key
from subscribers.tests.factories import SubscriberFactory
from surveys.models import Question, Response
from surveys.services import response_submit
from surveys.tests.factories import ChoiceFactory, QuestionFactory, SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return make_key(["surveys:read"])


@pytest.fixture
def answered():
    """A survey answered by a subscriber with tracking consent, one without, and an anonymous visitor."""
    survey = SurveyFactory(title="Leserumfrage")
    nps = QuestionFactory(survey=survey, position=0, kind=Question.Kind.NPS, text="Empfehlen?")
    topics = QuestionFactory(survey=survey, position=1, kind=Question.Kind.MULTIPLE_CHOICE, text="Themen?")
    sport, kultur = ChoiceFactory(question=topics, text="Sport"), ChoiceFactory(question=topics, text="Kultur")
    wish = QuestionFactory(survey=survey, position=2, kind=Question.Kind.FREE_TEXT, text="Wunsch?")
    tracked = SubscriberFactory(tracking_consent=True)
    response_submit(
        survey=survey,
        subscriber=tracked,
        source=Response.Source.MAIL,
        answers={nps.pk: 9, topics.pk: [sport.pk, kultur.pk], wish.pk: "Mehr Rätsel"},
    )
    response_submit(survey=survey, subscriber=SubscriberFactory(), source=Response.Source.MAIL, answers={nps.pk: 3})
    response_submit(survey=survey, respondent_key=uuid.uuid4(), source=Response.Source.PUBLIC, answers={nps.pk: 7})
    return survey, tracked, nps, topics, wish


def test_responses_name_only_subscribers_who_allow_tracking(client, key, answered):
    survey, tracked, nps, topics, wish = answered
    first = call(client, "get", f"/api/v1/surveys/{survey.pk}/responses?limit=2", key)
    assert first.status_code == 200, first.content
    rest = call(client, "get", first.json()["next"], key).json()
    responses = first.json()["results"] + rest["results"]
    assert [r["subscriber"] for r in responses] == [str(tracked.public_id), None, None]
    assert [r["source"] for r in responses] == ["mail", "mail", "public"]
    assert responses[0]["answers"] == [
        {"question_id": nps.pk, "question": "Empfehlen?", "value": 9, "choices": None, "text": None},
        {"question_id": topics.pk, "question": "Themen?", "value": None, "choices": ["Sport", "Kultur"], "text": None},
        {"question_id": wish.pk, "question": "Wunsch?", "value": None, "choices": None, "text": "Mehr Rätsel"},
    ]
    assert "@" not in first.content.decode() + str(rest), "no addresses"


def test_without_individual_tracking_no_response_names_anyone(client, key, answered, settings):
    settings.KANAL_INDIVIDUAL_TRACKING = False
    survey = answered[0]
    responses = call(client, "get", f"/api/v1/surveys/{survey.pk}/responses", key).json()["results"]
    assert [r["subscriber"] for r in responses] == [None, None, None]
    assert responses[0]["answers"][0]["value"] == 9


def test_surveys_are_listed_and_need_their_scope(client, key, answered):
    survey = answered[0]
    listed = call(client, "get", "/api/v1/surveys/", key).json()
    assert [(s["id"], s["title"]) for s in listed["results"]] == [(survey.pk, "Leserumfrage")]
    assert_problem(call(client, "get", "/api/v1/surveys/999999/responses", key), 404)
    assert_problem(call(client, "get", f"/api/v1/surveys/{survey.pk}/responses", make_key()), 403)
