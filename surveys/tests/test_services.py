import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from campaigns.tests.factories import ArticleFactory
from subscribers.tests.factories import SubscriberFactory
from surveys.models import Answer, ArticleFeedback, Response
from surveys.services import article_feedback_record, response_answer_record, response_submit
from surveys.tests.factories import ChoiceFactory

pytestmark = pytest.mark.django_db


def full_answers(s, overrides=None):
    answers = {
        s.nps.pk: 9,
        s.rating.pk: "4",
        s.single.pk: s.politics.pk,
        s.multiple.pk: [s.news.pk, s.essays.pk],
        s.free.pk: "Mehr Kultur, bitte.",
    }
    answers.update(overrides or {})
    return answers


def test_valid_response_stores_every_kind_of_answer(survey):
    subscriber = SubscriberFactory()
    response = response_submit(survey=survey.survey, answers=full_answers(survey), subscriber=subscriber, source="mail")
    answers = {answer.question_id: answer for answer in response.answers.all()}
    assert answers[survey.nps.pk].value == 9
    assert answers[survey.rating.pk].value == 4
    assert list(answers[survey.single.pk].choices.all()) == [survey.politics]
    assert set(answers[survey.multiple.pk].choices.all()) == {survey.news, survey.essays}
    assert answers[survey.free.pk].text == "Mehr Kultur, bitte."


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("nps", 11, "out_of_range"),
        ("nps", -1, "out_of_range"),
        ("rating", 0, "out_of_range"),
        ("rating", 6, "out_of_range"),
        ("nps", "ten", "invalid"),
        ("nps", [3, 4], "multiple"),
        ("single", "unknown", "unknown_choice"),
        ("multiple", [999_999], "unknown_choice"),
        ("free", "x" * 5_001, "too_long"),
    ],
)
def test_invalid_answer_gets_an_error_for_its_question_and_stores_nothing(survey, field, value, code):
    question = getattr(survey, field)
    with pytest.raises(ValidationError) as error:
        response_submit(
            survey=survey.survey,
            answers=full_answers(survey, {question.pk: value}),
            source="public",
            respondent_key="8d3f2a4e-9d6c-4b55-9a0e-1b2c3d4e5f60",
        )
    assert list(error.value.error_dict) == [f"q{question.pk}"]
    assert error.value.error_dict[f"q{question.pk}"][0].code == code
    assert Response.objects.count() == 0
    assert Answer.objects.count() == 0


def test_choice_of_another_question_is_unknown(survey):
    other = ChoiceFactory(text="Somewhere else")
    with pytest.raises(ValidationError) as error:
        response_submit(
            survey=survey.survey, answers=full_answers(survey, {survey.single.pk: other.pk}), source="public"
        )
    assert error.value.error_dict[f"q{survey.single.pk}"][0].code == "unknown_choice"
    assert Response.objects.count() == 0


def test_two_options_for_a_single_choice_question_are_refused(survey):
    with pytest.raises(ValidationError) as error:
        response_submit(
            survey=survey.survey,
            answers=full_answers(survey, {survey.single.pk: [survey.politics.pk, survey.culture.pk]}),
            source="public",
        )
    assert error.value.error_dict[f"q{survey.single.pk}"][0].code == "multiple"
    assert Response.objects.count() == 0


def test_missing_required_answer_stores_nothing(survey):
    answers = full_answers(survey)
    del answers[survey.nps.pk]
    with pytest.raises(ValidationError) as error:
        response_submit(survey=survey.survey, answers=answers, subscriber=SubscriberFactory(), source="mail")
    assert error.value.error_dict[f"q{survey.nps.pk}"][0].code == "required"
    assert Response.objects.count() == 0


def test_every_bad_answer_is_reported_at_once(survey):
    answers = {survey.rating.pk: 9, survey.free.pk: "y" * 6_000}
    with pytest.raises(ValidationError) as error:
        response_submit(survey=survey.survey, answers=answers, source="public")
    assert set(error.value.error_dict) == {f"q{survey.nps.pk}", f"q{survey.rating.pk}", f"q{survey.free.pk}"}


def test_answer_to_a_question_of_another_survey_is_refused(survey):
    from surveys.tests.factories import QuestionFactory

    foreign = QuestionFactory()
    with pytest.raises(ValidationError):
        response_submit(survey=survey.survey, answers=full_answers(survey, {foreign.pk: 5}), source="public")
    assert Response.objects.count() == 0


def test_answering_again_edits_the_subscribers_one_response(survey):
    subscriber = SubscriberFactory()
    first = response_submit(survey=survey.survey, answers=full_answers(survey), subscriber=subscriber, source="mail")
    second = response_submit(
        survey=survey.survey,
        answers={survey.nps.pk: 3, survey.multiple.pk: [survey.news.pk]},
        subscriber=subscriber,
        source="mail",
        delivery_id=42,
    )
    assert second.pk == first.pk
    assert Response.objects.count() == 1
    answers = {answer.question_id: answer for answer in Answer.objects.filter(response=second)}
    assert set(answers) == {survey.nps.pk, survey.multiple.pk}, "answers left out the second time are gone"
    assert answers[survey.nps.pk].value == 3
    assert list(answers[survey.multiple.pk].choices.all()) == [survey.news]
    assert Response.objects.get().delivery_id == 42


def test_answering_again_with_the_same_respondent_key_edits_the_response(survey):
    key = "8d3f2a4e-9d6c-4b55-9a0e-1b2c3d4e5f60"
    response_submit(survey=survey.survey, answers={survey.nps.pk: 2}, respondent_key=key, source="public")
    response_submit(survey=survey.survey, answers={survey.nps.pk: 10}, respondent_key=key, source="public")
    assert Response.objects.count() == 1
    assert Answer.objects.get().value == 10


def test_database_refuses_a_second_response_of_one_subscriber(survey):
    subscriber = SubscriberFactory()
    Response.objects.create(survey=survey.survey, subscriber=subscriber, source="mail")
    with pytest.raises(IntegrityError):
        Response.objects.create(survey=survey.survey, subscriber=subscriber, source="mail")


def test_database_refuses_a_score_above_ten(survey):
    response = Response.objects.create(survey=survey.survey, source="public")
    with pytest.raises(IntegrityError):
        Answer.objects.create(response=response, question=survey.nps, value=11)


def test_article_feedback_answered_again_is_edited():
    article = ArticleFactory()
    subscriber = SubscriberFactory()
    article_feedback_record(article=article, subscriber=subscriber, useful=True)
    article_feedback_record(article=article, subscriber=subscriber, useful=False, delivery_id=7)
    feedback = ArticleFeedback.objects.get()
    assert (feedback.useful, feedback.delivery_id) == (False, 7)
    article_feedback_record(article=article, useful=True)
    assert ArticleFeedback.objects.count() == 2, "anonymous feedback is not merged"


def test_a_one_click_answer_creates_the_response_even_with_other_required_questions_open(survey):
    survey.rating.required = True
    survey.rating.save()
    subscriber = SubscriberFactory()
    response = response_answer_record(question=survey.nps, raw=9, subscriber=subscriber, source="mail", delivery_id=5)
    assert (response.subscriber, response.source, response.delivery_id) == (subscriber, "mail", 5)
    assert [(a.question_id, a.value) for a in response.answers.all()] == [(survey.nps.pk, 9)]


def test_a_one_click_answer_replaces_only_its_own_question(survey):
    subscriber = SubscriberFactory()
    first = response_submit(survey=survey.survey, answers=full_answers(survey), subscriber=subscriber, source="mail")
    again = response_answer_record(question=survey.single, raw=survey.culture.pk, subscriber=subscriber, source="mail")
    assert again.pk == first.pk and Response.objects.count() == 1
    answers = {answer.question_id: answer for answer in again.answers.all()}
    assert list(answers[survey.single.pk].choices.all()) == [survey.culture]
    assert answers[survey.nps.pk].value == 9 and answers[survey.free.pk].text == "Mehr Kultur, bitte."


@pytest.mark.parametrize(("field", "raw"), [("nps", 11), ("rating", 0), ("single", 999_999), ("nps", "x")])
def test_a_bad_one_click_answer_stores_nothing(survey, field, raw):
    question = getattr(survey, field)
    with pytest.raises(ValidationError) as error:
        response_answer_record(question=question, raw=raw, subscriber=SubscriberFactory(), source="mail")
    assert list(error.value.error_dict) == [f"q{question.pk}"]
    assert Response.objects.count() == 0 and Answer.objects.count() == 0


def test_a_survey_copy_has_the_questions_and_choices_but_no_responses():
    from campaigns.tests.factories import CampaignFactory
    from surveys.services import survey_copy
    from surveys.tests.factories import QuestionFactory, SurveyFactory

    original = SurveyFactory(campaign=CampaignFactory(), slug="umfrage")
    question = QuestionFactory(survey=original, kind="single_choice", text="Welche Farbe?")
    red = ChoiceFactory(question=question, text="Rot")
    ChoiceFactory(question=question, text="Blau")
    response_submit(survey=original, answers={question.pk: red.pk}, subscriber=SubscriberFactory(), source="mail")
    target = CampaignFactory()

    copy = survey_copy(survey=original, campaign=target)

    assert copy.campaign == target and copy.slug != original.slug and not copy.is_public
    copied = copy.questions.get()
    assert copied.pk != question.pk and copied.text == "Welche Farbe?"
    assert list(copied.choices.values_list("text", flat=True)) == ["Rot", "Blau"]
    assert not copy.responses.exists() and original.responses.count() == 1
