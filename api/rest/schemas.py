"""Request and response bodies of the REST API (pydantic, via django-ninja)."""

import re
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from ninja import Schema
from pydantic import Field, field_validator, model_validator

from campaigns.models import Campaign
from offers.models import CODE_MAX_LENGTH
from subscribers.models import Language, Subscriber, SubscriberImport, Subscription, normalise_email


class ProblemOut(Schema):
    """RFC 9457 problem details, sent as application/problem+json."""

    type: str
    title: str
    status: int
    detail: str


PROBLEMS = {frozenset({400, 401, 403, 404, 409, 422, 429}): ProblemOut}
"""Added to every operation's responses, so the schema names the error shape."""

ListRef = int | str
"""A mailing list by id (number) or slug (text)."""

TagName = Field(min_length=1, max_length=100)


def email_address(value: str) -> str:
    """A request's email address, normalised as stored; a ValueError (a 422 problem) if it is none."""
    value = normalise_email(value)
    try:
        validate_email(value)
    except DjangoValidationError as error:
        raise ValueError("not a valid email address") from error
    return value


class MailingListOut(Schema):
    id: int
    slug: str
    name: str
    language: str
    is_public: bool
    created_at: datetime


class MailingListPage(Schema):
    results: list[MailingListOut]
    next: str | None = Field(description="URL of the next page; null on the last page.")


class SubscriptionOut(Schema):
    list: str = Field(description="The list's slug.")
    status: str


class SubscriberOut(Schema):
    id: UUID
    email: str
    first_name: str
    last_name: str
    language: str
    status: str
    tags: list[str]
    subscriptions: list[SubscriptionOut]
    created_at: datetime


class SubscriberPage(Schema):
    results: list[SubscriberOut]
    next: str | None = Field(description="URL of the next page; null on the last page.")


class SubscriberFilters(Schema):
    email: str | None = Field(None, max_length=254, description="Exactly this address (zero or one result).")
    status: Subscriber.Status | None = None
    list: str | None = Field(None, max_length=100, description="Only subscribers on this list (its slug).")
    subscription_status: Subscription.Status | None = Field(
        None, description="With ``list``: only subscriptions in this status."
    )
    tag: str | None = Field(None, max_length=100)
    updated_since: datetime | None = Field(
        None,
        description="Only subscribers whose own record (names, language, status, custom fields) changed since "
        "then; tags and subscriptions do not count.",
    )


class ErasedOut(Schema):
    erased: bool


class SubscriberCreateIn(Schema):
    email: str = Field(max_length=254)
    first_name: str = Field("", max_length=100)
    last_name: str = Field("", max_length=100)
    lists: list[ListRef] = Field(min_length=1, max_length=50, description="Mailing list ids or slugs.")
    language: Language | None = None
    consent_basis: SubscriberImport.ConsentBasis = Field(
        SubscriberImport.ConsentBasis.DOUBLE_OPT_IN,
        description="double_opt_in (default): the normal confirmation mail, the subscriber stays pending. "
        "documented: consent given and documented elsewhere (e.g. an existing customer under UWG § 7(3), "
        "or a paper form); needs consent_source and the scope subscribers:import, the subscriptions are "
        "active at once and no mail is sent.",
    )
    consent_source: str = Field(
        "", max_length=500, description="With documented: where and how the consent is documented (the proof)."
    )
    consented_at: datetime | None = Field(None, description="With documented: when the consent was given.")

    @model_validator(mode="after")
    def documented_consent_names_its_source(self):
        documented = self.consent_basis == SubscriberImport.ConsentBasis.DOCUMENTED
        if documented and not self.consent_source.strip():
            raise ValueError("a documented consent basis needs consent_source")
        if not documented and (self.consent_source or self.consented_at):
            raise ValueError("consent_source and consented_at go only with the documented consent basis")
        return self

    @field_validator("email")
    @classmethod
    def email_is_an_address(cls, value: str) -> str:
        return email_address(value)


class SubscriberPatchIn(Schema):
    first_name: str | None = Field(None, max_length=100)
    last_name: str | None = Field(None, max_length=100)
    language: Language | None = None
    tags_add: list[str] = Field(default_factory=list, max_length=50)
    tags_remove: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("tags_add", "tags_remove")
    @classmethod
    def tag_names_fit(cls, names: list[str]) -> list[str]:
        names = [name.strip() for name in names]
        if any(not name or len(name) > 100 for name in names):
            raise ValueError("tag names must have 1 to 100 characters")
        return names


class UnsubscribeIn(Schema):
    list: ListRef | None = Field(None, description="One list (id or slug); without it (body {}), every list.")


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    problems: list[str] = Field(description="What keeps the rules from being used; empty when usable.")
    created_at: datetime
    updated_at: datetime


class SegmentPage(Schema):
    results: list[SegmentOut]
    next: str | None = Field(description="URL of the next page; null on the last page.")


class SegmentCountOut(Schema):
    count: int
    left_out_for_consent: int = Field(description="Not counted: the rules read behaviour they did not consent to.")
    matches_everyone: bool
    total: int


class CampaignOut(Schema):
    id: int
    name: str
    kind: Campaign.Kind
    subject: str
    status: Campaign.Status
    lists: list[str] = Field(description="The slugs of the lists it goes to.")
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class CampaignPage(Schema):
    results: list[CampaignOut]
    next: str | None = Field(description="URL of the next page; null on the last page.")


class StatsInclude(StrEnum):
    MACHINE = "machine"


class MachineCountsOut(Schema):
    opens: int
    clicks: int


class StatsTableOut(Schema):
    slug: str
    title: str
    columns: list[str]
    rows: list[list[Any]]


class CampaignStatsOut(Schema):
    sent: int
    skipped_frequency_cap: int
    delivered: int
    bounced: int
    soft_bounced: int
    complained: int
    unsubscribed: int
    opens: int = Field(description="Human opens (no machine-labelled ones).")
    unique_opens: int
    anonymous_opens: int
    estimated_openers: int
    clicks: int = Field(description="Human clicks (no machine-labelled ones).")
    unique_clicks: int
    anonymous_clicks: int
    estimated_clickers: int
    open_rate: float | None
    click_rate: float | None
    click_to_open_rate: float | None
    tables: list[StatsTableOut]
    machine: MachineCountsOut | None = Field(description="Machine-labelled events; only with ?include=machine.")


class SurveyOut(Schema):
    id: int
    title: str
    slug: str
    campaign: int | None = Field(description="The campaign whose mail carries it, if any.")
    created_at: datetime


class SurveyPage(Schema):
    results: list[SurveyOut]
    next: str | None = Field(description="URL of the next page; null on the last page.")


class SurveyAnswerOut(Schema):
    question_id: int
    question: str
    value: int | None = Field(None, description="Scores (recommendation 0-10, rating 1-5).")
    choices: list[str] | None = Field(None, description="Choice questions: the chosen options.")
    text: str | None = Field(None, description="Free-text questions.")


class SurveyResponseOut(Schema):
    id: int
    source: str
    subscriber: UUID | None = Field(description="Only for respondents who allow individual tracking.")
    created_at: datetime
    updated_at: datetime
    answers: list[SurveyAnswerOut]


class SurveyResponsePage(Schema):
    results: list[SurveyResponseOut]
    next: str | None = Field(description="URL of the next page; null on the last page.")


class RedeemIn(Schema):
    code: str = Field(min_length=1, max_length=CODE_MAX_LENGTH)
    order: str = Field("", max_length=200, description="The shop's order reference.")
    order_value: str | int | float | None = Field(None, description='A number, or text such as "12,50".')
    currency: str = Field("", max_length=3)
    email: str | None = Field(None, max_length=254, description="The buyer's address, if they may be a subscriber.")
    offer: int | None = Field(None, description="The offer, when the same code exists in several.")

    @field_validator("email")
    @classmethod
    def email_normalised(cls, value: str | None) -> str | None:
        return normalise_email(value) if value else None


class RedemptionOut(Schema):
    id: int
    offer: int
    code: str
    order: str
    order_value: str | None
    currency: str
    source: str
    redeemed_at: datetime


class RedeemOut(Schema):
    redemption: RedemptionOut
    created: bool = Field(description="False when this answer is the stored redemption of a replay.")


PAYLOAD_KEY = r"^[A-Za-z_][A-Za-z0-9_]{0,49}$"


class EnrolIn(Schema):
    subscriber: UUID
    payload: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        max_length=50,
        description="Merge-tag values for the automation's mails, as {{ subscriber.payload.<key> }}: keys are "
        "letters, digits and _ (at most 50 characters), values text of at most 1,000 characters or numbers.",
    )

    @field_validator("payload")
    @classmethod
    def payload_fits_merge_tags(cls, payload: dict) -> dict:
        if any(not re.match(PAYLOAD_KEY, key) for key in payload):
            raise ValueError("payload keys are letters, digits and _, starting with a letter or _")
        if any(isinstance(value, str) and len(value) > 1000 for value in payload.values()):
            raise ValueError("payload values have at most 1,000 characters")
        return payload


class EnrolledOut(Schema):
    journey: int
    entered_at: datetime
