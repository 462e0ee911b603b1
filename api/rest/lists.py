"""``/api/v1/lists/``."""

from ninja import Query, Router

from api.rest.auth import LISTS_READ
from api.rest.pagination import PageQuery, paginate
from api.rest.schemas import PROBLEMS, MailingListOut, MailingListPage
from subscribers.models import MailingList

router = Router(tags=["lists"])


def mailing_list_data(mailing_list: MailingList) -> dict:
    return MailingListOut.from_orm(mailing_list).model_dump(mode="json")


@router.get("/", response={200: MailingListPage, **PROBLEMS}, auth=LISTS_READ, summary="All mailing lists, in pages")
def lists_index(request, page: Query[PageQuery]):
    return paginate(request, MailingList.objects.all(), page=page, serialize=mailing_list_data)
