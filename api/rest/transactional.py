"""``/api/v1/transactional/``: one mail from a template to one address."""

import json
import re
from datetime import datetime
from uuid import UUID

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router, Schema
from pydantic import Field, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from api.rest.auth import ApiKeyBearer
from api.rest.idempotency import idempotent
from api.rest.problems import Problem
from api.rest.schemas import PROBLEMS, email_address
from api.rest.subscribers import IDEMPOTENCY_HEADER_DOC
from subscribers.models import Language, Subscriber
from transactional import selectors
from transactional.models import TransactionalMessage
from transactional.services import TransactionalRefused, transactional_message_create

router = Router(tags=["transactional"])
TRANSACTIONAL_SEND = ApiKeyBearer("transactional:send")
TRANSACTIONAL_READ = ApiKeyBearer("transactional:read")

MAX_DATA_KEYS = 50
MAX_DATA_TEXT = 2000
MAX_DATA_BYTES = 16_384
DATA_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class TransactionalSendIn(Schema):
    template: str = Field(min_length=1, max_length=100, description="The template's slug.")
    to: str | None = Field(None, max_length=254, description="Any address; or give subscriber instead.")
    subscriber: UUID | None = Field(None, description="A subscriber's id; or give to instead.")
    data: dict[str, StrictStr | StrictInt | StrictFloat] = Field(
        default_factory=dict,
        description=f"Values for the template's {{{{ data.<name> }}}} merge tags: at most {MAX_DATA_KEYS} names "
        f"(letters, digits, _), texts of at most {MAX_DATA_TEXT} characters or numbers, {MAX_DATA_BYTES} bytes in all.",
    )
    language: Language | None = Field(
        None, description="Which translation of the template; default the subscriber's, else the site's language."
    )

    @field_validator("to")
    @classmethod
    def to_is_an_address(cls, value: str | None) -> str | None:
        return None if value is None else email_address(value)

    @field_validator("data")
    @classmethod
    def data_fits(cls, data: dict) -> dict:
        if len(data) > MAX_DATA_KEYS:
            raise ValueError(f"at most {MAX_DATA_KEYS} values")
        if any(not re.fullmatch(DATA_KEY, name) for name in data):
            raise ValueError("names are letters, digits and _, at most 64, not starting with a digit")
        if any(isinstance(value, str) and len(value) > MAX_DATA_TEXT for value in data.values()):
            raise ValueError(f"texts have at most {MAX_DATA_TEXT} characters")
        if len(json.dumps(data).encode()) > MAX_DATA_BYTES:
            raise ValueError(f"at most {MAX_DATA_BYTES} bytes in all")
        return data

    @model_validator(mode="after")
    def one_recipient(self):
        if (self.to is None) == (self.subscriber is None):
            raise ValueError("give either to or subscriber")
        return self


class TransactionalMessageOut(Schema):
    id: UUID
    template: str = Field(description="The template's slug.")
    language: str
    status: str = Field(description="queued, sending, sent, failed or suppressed (not sent: see the docs).")
    created_at: datetime
    sent_at: datetime | None


def message_data(message: TransactionalMessage) -> dict:
    return TransactionalMessageOut(
        id=message.public_id,
        template=message.template.slug,
        language=message.template.language,
        status=message.status,
        created_at=message.created_at,
        sent_at=message.sent_at,
    ).model_dump(mode="json")


@router.post(
    "/",
    response={202: TransactionalMessageOut, **PROBLEMS},
    auth=TRANSACTIONAL_SEND,
    summary="Send one mail from a template",
    description="Queues the mail and answers at once; GET the returned id for its status. An unknown template "
    "is a 404 problem. An address that does not take this mail (suppressed, unsubscribed, bounced or "
    "complained; a legal or service template reaches suppressed and unsubscribed addresses) is a 422 problem, "
    "and nothing is stored. " + IDEMPOTENCY_HEADER_DOC,
)
def transactional_send(request, payload: TransactionalSendIn):
    def action():
        if payload.subscriber is not None:
            subscriber = Subscriber.objects.filter(public_id=payload.subscriber).first()
            if subscriber is None:
                raise Problem(422, _("There is no subscriber with this id."))
        else:
            subscriber = selectors.subscriber_for_address(email=payload.to)
        language = payload.language.value if payload.language else (subscriber.language if subscriber else None)
        template = selectors.template_for(slug=payload.template, language=language)
        if template is None:
            raise Problem(404, _("There is no template “%(slug)s”.") % {"slug": payload.template})
        try:
            message = transactional_message_create(
                template=template,
                email=subscriber.email if subscriber else payload.to,
                subscriber=subscriber,
                data=payload.data,
                api_key=request.auth,
                idempotency_key=request.headers.get("Idempotency-Key", "").strip(),
            )
        except TransactionalRefused as refused:
            raise Problem(422, _("This address does not take this mail.")) from refused
        return 202, message_data(message)

    return idempotent(request, action)


@router.get(
    "/{message_id}",
    response={200: TransactionalMessageOut, **PROBLEMS},
    auth=TRANSACTIONAL_SEND,
    summary="One transactional mail's status",
)
def transactional_detail(request, message_id: UUID):
    return message_data(
        get_object_or_404(TransactionalMessage.objects.select_related("template"), public_id=message_id)
    )


class TemplateFiguresOut(Schema):
    sent: int = Field(description="Mails sent.")
    tracked: int = Field(description="Of those, sent with open and click tracking (template and recipient allowed it).")
    unique_opens: int = Field(description="Tracked mails a person opened, each counted once; machines never count.")
    unique_clicks: int = Field(description="Tracked mails in which a person clicked a link, each counted once.")


class TemplateLanguageFiguresOut(TemplateFiguresOut):
    language: str


class TemplateStatsOut(TemplateFiguresOut):
    template: str = Field(description="The template's slug.")
    languages: list[TemplateLanguageFiguresOut] = Field(description="The same figures per translation.")


@router.get(
    "/templates/{slug}/stats",
    response={200: TemplateStatsOut, **PROBLEMS},
    auth=TRANSACTIONAL_READ,
    summary="A template's figures: people, not machines",
    description="Sent mails, those sent tracked, and people's unique opens and clicks of the template's mails, in "
    "all its translations and per translation. Opens and clicks labelled as machines (image proxies, link "
    "scanners, clicks seconds after sending) never count.",
)
def transactional_template_stats(request, slug: str):
    rows = [
        {
            "language": row.language,
            "sent": row.sent_count,
            "tracked": row.tracked_count,
            "unique_opens": row.human_opens,
            "unique_clicks": row.human_clicks,
        }
        for row in selectors.template_figures().filter(slug=slug).order_by("language")
    ]
    if not rows:
        raise Problem(404, _("There is no template “%(slug)s”.") % {"slug": slug})
    totals = {key: sum(row[key] for row in rows) for key in ("sent", "tracked", "unique_opens", "unique_clicks")}
    return {"template": slug, **totals, "languages": rows}
