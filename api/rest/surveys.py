"""``/api/v1/surveys/``: surveys and their responses. A response names its subscriber (by public id)
only while that subscriber allows their answers to be looked at individually (``tracked_q``)."""

from django.db.models import Exists, OuterRef, Prefetch
from django.shortcuts import get_object_or_404
from ninja import Query, Router

from api.rest.auth import SURVEYS_READ
from api.rest.pagination import PageQuery, paginate
from api.rest.schemas import PROBLEMS, SurveyOut, SurveyPage, SurveyResponseOut, SurveyResponsePage
from audience.conditions import tracked_q
from subscribers.models import Subscriber
from surveys.models import Answer, Response, Survey
from surveys.selectors import answer_data

router = Router(tags=["surveys"])


def survey_data(survey: Survey) -> dict:
    return SurveyOut(
        id=survey.pk, title=survey.title, slug=survey.slug, campaign=survey.campaign_id, created_at=survey.created_at
    ).model_dump(mode="json")


def response_data(response: Response) -> dict:
    return SurveyResponseOut(
        id=response.pk,
        source=response.source,
        subscriber=response.subscriber.public_id if response.subscriber_tracked else None,
        created_at=response.created_at,
        updated_at=response.updated_at,
        answers=[
            {"question_id": answer.question_id, **answer_data(answer)}
            for answer in sorted(response.answers.all(), key=lambda a: (a.question.position, a.question_id))
        ],
    ).model_dump(mode="json")


@router.get("/", response={200: SurveyPage, **PROBLEMS}, auth=SURVEYS_READ, summary="Surveys, in pages")
def survey_index(request, page: Query[PageQuery]):
    return paginate(request, Survey.objects.all(), page=page, serialize=survey_data)


@router.get(
    "/{survey_id}/responses",
    response={200: SurveyResponsePage, **PROBLEMS},
    auth=SURVEYS_READ,
    summary="A survey's responses, in pages",
    description="Every response with its answers. `subscriber` is the respondent's id only when they "
    "allow individual tracking (as segments read answers); otherwise, and for anonymous answers from "
    "the public link, it is null.",
)
def survey_responses(
    request,
    survey_id: int,
    page: Query[PageQuery],
):
    survey = get_object_or_404(Survey, pk=survey_id)
    tracked = Subscriber.objects.filter(tracked_q(), pk=OuterRef("subscriber_id"))
    responses = (
        survey.responses.select_related("subscriber")
        .annotate(subscriber_tracked=Exists(tracked))
        .prefetch_related(Prefetch("answers", queryset=Answer.objects.select_related("question")), "answers__choices")
    )
    return paginate(request, responses, page=page, serialize=response_data)
