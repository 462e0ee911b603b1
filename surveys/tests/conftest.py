from types import SimpleNamespace

import pytest

from surveys.models import Question
from surveys.tests.factories import ChoiceFactory, QuestionFactory, SurveyFactory


@pytest.fixture
def survey(db):
    """A public survey with one question of every kind; the NPS question comes first and is required."""
    survey = SurveyFactory(slug="zufrieden", title="How was this issue?")
    nps = QuestionFactory(
        survey=survey, position=1, kind=Question.Kind.NPS, text="Would you recommend us?", required=True
    )
    rating = QuestionFactory(survey=survey, position=2, kind=Question.Kind.RATING, text="How do you rate it?")
    single = QuestionFactory(survey=survey, position=3, kind=Question.Kind.SINGLE_CHOICE, text="Favourite topic?")
    multiple = QuestionFactory(survey=survey, position=4, kind=Question.Kind.MULTIPLE_CHOICE, text="What do you read?")
    free = QuestionFactory(survey=survey, position=5, kind=Question.Kind.FREE_TEXT, text="Anything else?")
    return SimpleNamespace(
        survey=survey,
        nps=nps,
        rating=rating,
        single=single,
        multiple=multiple,
        free=free,
        politics=ChoiceFactory(question=single, text="Politics"),
        culture=ChoiceFactory(question=single, text="Culture"),
        news=ChoiceFactory(question=multiple, text="News"),
        essays=ChoiceFactory(question=multiple, text="Essays"),
    )
