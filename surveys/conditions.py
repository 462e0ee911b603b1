"""Segment conditions on what readers answered, registered in ``SurveysConfig.ready()``.

Answers are what a person said, so like opens and clicks they are read only for subscribers with
tracking consent (``audience.rules``).
"""

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext_lazy as _

from audience.conditions import BOOL, CHOICE, INT, REF, ConditionKind, Group, Param, register
from audience.rules import NOBODY
from surveys.models import Answer, ArticleFeedback, Choice, Question, Survey
from tracking.conditions import article_param

PROMOTER, PASSIVE, DETRACTOR = "promoter", "passive", "detractor"
NPS_RANGES = {PROMOTER: (9, 10), PASSIVE: (7, 8), DETRACTOR: (0, 6)}
AT_MOST, AT_LEAST = "lte", "gte"


def _answers(**filters):
    return Answer.objects.filter(response__subscriber=OuterRef("pk"), **filters)


def _survey_param(*, required: bool, help_text="") -> Param:
    return Param(
        "survey",
        _("survey"),
        REF,
        required=required,
        queryset=lambda: Survey.objects.order_by("-created_at"),
        help_text=help_text,
    )


def _answered(params: dict) -> Q:
    return Q(Exists(_answers(response__survey_id=params["survey"])))


def latest_nps_survey_id() -> int | None:
    """The newest survey that asks for a recommendation score."""
    return (
        Survey.objects.filter(questions__kind=Question.Kind.NPS)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )


def _nps(params: dict) -> Q:
    survey_id = params["survey"] or latest_nps_survey_id()
    if survey_id is None:
        return NOBODY
    low, high = NPS_RANGES[params["group"]]
    scores = _answers(question__survey_id=survey_id, question__kind=Question.Kind.NPS, value__gte=low, value__lte=high)
    return Q(Exists(scores))


def _rating(params: dict) -> Q:
    answers = _answers(question__kind=Question.Kind.RATING, **{f"value__{params['comparison']}": params["value"]})
    if params["survey"]:
        answers = answers.filter(question__survey_id=params["survey"])
    return Q(Exists(answers))


def _chose(params: dict) -> Q:
    return Q(Exists(_answers(choices=params["choice"])))


def _useful(params: dict) -> Q:
    feedback = ArticleFeedback.objects.filter(subscriber=OuterRef("pk"), useful=params["useful"])
    if params["article"]:
        feedback = feedback.filter(article_id=params["article"])
    return Q(Exists(feedback))


def _choice_label(choice) -> str:
    return f"{choice.question.survey.title}: {choice.question.text} → {choice.text}"


def register_dialogue_kinds() -> None:
    dialogue = {"group": Group.DIALOGUE, "needs_consent": True, "cost": 3}
    register(
        ConditionKind(
            key="answered_survey",
            label=_("answered a survey"),
            params=(_survey_param(required=True),),
            q=_answered,
            **dialogue,
        )
    )
    register(
        ConditionKind(
            key="nps_group",
            label=_("recommendation score group"),
            params=(
                Param(
                    "group",
                    _("group"),
                    CHOICE,
                    choices=(
                        (PROMOTER, _("promoter (9–10)")),
                        (PASSIVE, _("passive (7–8)")),
                        (DETRACTOR, _("detractor (0–6)")),
                    ),
                ),
                _survey_param(required=False, help_text=_("Empty: the newest survey with a recommendation question.")),
            ),
            q=_nps,
            **dialogue,
        )
    )
    register(
        ConditionKind(
            key="rating",
            label=_("gave a star rating"),
            params=(
                Param("comparison", _("rating"), CHOICE, choices=((AT_MOST, _("at most")), (AT_LEAST, _("at least")))),
                Param("value", _("stars"), INT, min_value=1, max_value=5),
                _survey_param(required=False, help_text=_("Empty: in any survey.")),
            ),
            q=_rating,
            **dialogue,
        )
    )
    register(
        ConditionKind(
            key="chose_option",
            label=_("chose an option"),
            params=(
                Param(
                    "choice",
                    _("option"),
                    REF,
                    queryset=lambda: Choice.objects.select_related("question__survey").order_by(
                        "-question__survey__created_at", "question__position", "position"
                    ),
                    option_label=_choice_label,
                ),
            ),
            q=_chose,
            **dialogue,
        )
    )
    article = article_param()
    register(
        ConditionKind(
            key="article_useful",
            label=_("said an article was useful or not"),
            params=(
                Param("useful", _("useful"), BOOL, required=False, default=True),
                Param(
                    article.name,
                    article.label,
                    REF,
                    required=False,
                    queryset=article.queryset,
                    option_label=article.option_label,
                    help_text=_("Empty: any article."),
                ),
            ),
            q=_useful,
            **dialogue,
        )
    )
