"""Cursor pagination: the cursor is the last row's id, signed so clients treat it as opaque."""

from collections.abc import Callable

from django.core import signing
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import Field

from api.rest.problems import Problem

CURSOR_SALT = "kanal.api.cursor"
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class PageQuery(Schema):
    """``?limit=&cursor=`` of every list; an endpoint takes it as ``page: Query[PageQuery]``."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, description="From the previous page's next URL.")


def cursor_encode(*, last_id: int) -> str:
    return signing.dumps({"after": last_id}, salt=CURSOR_SALT, compress=False)


def cursor_decode(cursor: str) -> int:
    try:
        after = signing.loads(cursor, salt=CURSOR_SALT)["after"]
    except (signing.BadSignature, KeyError, TypeError) as error:
        raise Problem(400, _("The cursor is not valid; use the next URL of the previous page.")) from error
    if not isinstance(after, int):
        raise Problem(400, _("The cursor is not valid; use the next URL of the previous page."))
    return after


def paginate(request, queryset: QuerySet, *, page: PageQuery, serialize: Callable) -> dict:
    """One page of ``queryset`` in id order, and the URL of the next page (None on the last).

    The next URL keeps the request's other parameters (its filters).
    """
    limit, cursor = page.limit, page.cursor
    if cursor:
        queryset = queryset.filter(pk__gt=cursor_decode(cursor))
    rows = list(queryset.order_by("pk")[: limit + 1])
    next_url = None
    if len(rows) > limit:
        rows = rows[:limit]
        query = request.GET.copy()
        query["limit"] = limit
        query["cursor"] = cursor_encode(last_id=rows[-1].pk)
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {"results": [serialize(row) for row in rows], "next": next_url}
