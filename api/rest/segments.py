"""``/api/v1/segments/``: saved segments, their figures and members, through audience's selectors."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router

from api.rest.auth import SEGMENTS_READ
from api.rest.pagination import PageQuery, paginate
from api.rest.problems import Problem
from api.rest.schemas import PROBLEMS, SegmentCountOut, SegmentOut, SegmentPage, SubscriberPage
from api.rest.subscribers import subscriber_data, subscribers_for_output
from audience import selectors
from audience.models import Segment

router = Router(tags=["segments"])


def segment_data(segment: Segment) -> dict:
    return SegmentOut(
        id=segment.pk,
        name=segment.name,
        description=segment.description,
        problems=selectors.segment_problems(segment),
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    ).model_dump(mode="json")


def _usable_segment_or_problem(segment_id: int) -> Segment:
    segment = get_object_or_404(Segment, pk=segment_id)
    problems = selectors.segment_problems(segment)
    if problems:
        raise Problem(409, _("The segment's rules cannot be used until staff fix them."), extra={"problems": problems})
    return segment


@router.get("/", response={200: SegmentPage, **PROBLEMS}, auth=SEGMENTS_READ, summary="All segments, in pages")
def segment_index(request, page: Query[PageQuery]):
    return paginate(request, Segment.objects.all(), page=page, serialize=segment_data)


@router.get(
    "/{segment_id}/count",
    response={200: SegmentCountOut, **PROBLEMS},
    auth=SEGMENTS_READ,
    summary="How many subscribers the segment takes",
    description="The figures of the segment editor: `left_out_for_consent` counts subscribers whose "
    "behaviour the rules read but who did not consent to tracking; they are never members.",
)
def segment_count(request, segment_id: int):
    return selectors.segment_count(_usable_segment_or_problem(segment_id))


@router.get(
    "/{segment_id}/members",
    response={200: SubscriberPage, **PROBLEMS},
    auth=SEGMENTS_READ,
    summary="The segment's members, in pages",
    description="Every subscriber the segment takes, whatever their status (filter on `status` yourself).",
)
def segment_members(
    request,
    segment_id: int,
    page: Query[PageQuery],
):
    segment = _usable_segment_or_problem(segment_id)
    members = selectors.segment_members(segment, base=subscribers_for_output())
    return paginate(request, members, page=page, serialize=subscriber_data)
