"""``/api/v1/subscribers/``. Sign-ups start the normal double opt-in unless a key with ``subscribers:import``
names a documented consent basis (the CSV import's rules for one address); nothing here confirms."""

from uuid import UUID

from django.db.models import Exists, OuterRef, Prefetch
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router

from api.rest.auth import (
    SUBSCRIBERS_ERASE,
    SUBSCRIBERS_EXPORT,
    SUBSCRIBERS_IMPORT,
    SUBSCRIBERS_READ,
    SUBSCRIBERS_WRITE,
    scope_require,
)
from api.rest.idempotency import idempotent
from api.rest.pagination import PageQuery, paginate
from api.rest.problems import Problem
from api.rest.schemas import (
    PROBLEMS,
    ErasedOut,
    ListRef,
    SubscriberCreateIn,
    SubscriberFilters,
    SubscriberOut,
    SubscriberPage,
    SubscriberPatchIn,
    UnsubscribeIn,
)
from subscribers import selectors
from subscribers.models import (
    ImportProblem,
    MailingList,
    Subscriber,
    SubscriberImport,
    Subscription,
    normalise_email,
)
from subscribers.services import gdpr
from subscribers.services.imports import ImportRefused, subscriber_import_one
from subscribers.services.optin import subscriber_subscribe
from subscribers.services.preferences import subscriber_unsubscribe
from subscribers.services.profile import subscriber_profile_update

router = Router(tags=["subscribers"])

IDEMPOTENCY_HEADER_DOC = "Send an Idempotency-Key header to make a retry safe (see the API docs)."


def subscribers_for_output():
    """Subscribers with what ``subscriber_data`` reads, fetched in three queries per page."""
    return Subscriber.objects.prefetch_related(
        "tags", Prefetch("subscriptions", queryset=Subscription.objects.select_related("mailing_list"))
    )


def subscriber_data(subscriber: Subscriber, *, subscriptions: list[Subscription] | None = None) -> dict:
    """The API's view of ``subscriber``; ``subscriptions`` given means these are all it has, and no tags
    (a subscriber created in this request), so nothing is read."""
    tags = subscriber.tags.all() if subscriptions is None else []
    subscriptions = subscriber.subscriptions.all() if subscriptions is None else subscriptions
    return SubscriberOut(
        id=subscriber.public_id,
        email=subscriber.email,
        first_name=subscriber.first_name,
        last_name=subscriber.last_name,
        language=subscriber.language,
        status=subscriber.status,
        tags=sorted(tag.name for tag in tags),
        subscriptions=[
            {"list": subscription.mailing_list.slug, "status": subscription.status}
            for subscription in sorted(subscriptions, key=lambda s: s.mailing_list.slug)
        ],
        created_at=subscriber.created_at,
    ).model_dump(mode="json")


def _subscriber_or_404(subscriber_id: UUID) -> Subscriber:
    return get_object_or_404(subscribers_for_output(), public_id=subscriber_id)


def _fresh(subscriber: Subscriber) -> dict:
    return subscriber_data(subscribers_for_output().get(pk=subscriber.pk))


def mailing_lists_resolve(refs: list[ListRef]) -> list[MailingList]:
    """The lists named by id or slug, in the given order; a 422 problem names the unknown ones."""
    ids = {ref for ref in refs if isinstance(ref, int)}
    slugs = {ref for ref in refs if isinstance(ref, str)}
    found = MailingList.objects.filter(pk__in=ids) | MailingList.objects.filter(slug__in=slugs)
    by_ref = {}
    for mailing_list in found:
        by_ref[mailing_list.pk] = by_ref[mailing_list.slug] = mailing_list
    unknown = [str(ref) for ref in refs if ref not in by_ref]
    if unknown:
        raise Problem(
            422, _("Unknown mailing lists: %(lists)s") % {"lists": ", ".join(unknown)}, extra={"unknown_lists": unknown}
        )
    return list(dict.fromkeys(by_ref[ref] for ref in refs))


@router.post(
    "/",
    response={201: SubscriberOut, 202: SubscriberOut, **PROBLEMS},
    auth=SUBSCRIBERS_WRITE,
    summary="Sign an address up (double opt-in, or a documented consent)",
    description="By default (consent_basis double_opt_in) sends the normal confirmation mail for each list "
    "and answers 202: the subscriber stays pending until they click its link. Signing up an address "
    "already active on a list changes nothing there. With consent_basis documented (scope "
    "subscribers:import too) the subscriptions are active at once and 201 is the answer; an address that "
    "is suppressed, unsubscribed, bounced or complained, or a list the person left or has yet to confirm, "
    "is a 409 problem naming the reasons, and nothing changes. " + IDEMPOTENCY_HEADER_DOC,
)
def subscriber_create(request, payload: SubscriberCreateIn):
    documented = payload.consent_basis == SubscriberImport.ConsentBasis.DOCUMENTED
    if documented:
        scope_require(request, SUBSCRIBERS_IMPORT)
    language = payload.language.value if payload.language else None

    def read():
        """The lists and their consent texts, read before the write transaction."""
        try:
            mailing_lists = mailing_lists_resolve(payload.lists)
        except Problem as unknown:
            return unknown, {}
        if documented:
            return mailing_lists, {}
        languages = {language or mailing_list.language for mailing_list in mailing_lists}
        return mailing_lists, {code: selectors.consent_text_current(language=code) for code in languages}

    def action(lists_and_texts):
        mailing_lists, consent_texts = lists_and_texts
        if isinstance(mailing_lists, Problem):
            raise mailing_lists  # inside the transaction: the Idempotency-Key stays unused
        if documented:
            return 201, _fresh(_import_documented(request, payload, mailing_lists, language=language))
        outcomes = []
        for mailing_list in mailing_lists:
            outcome = subscriber_subscribe(
                email=payload.email,
                mailing_list=mailing_list,
                consent_text=consent_texts[language or mailing_list.language],
                first_name=payload.first_name,
                last_name=payload.last_name,
                language=language,
                details={"source": "api", "api_key": request.auth.prefix},
            )
            outcomes.append(outcome)
        subscriber = outcomes[0].subscription.subscriber
        if outcomes[0].subscriber_created:
            # A new address: its rows are all in hand, nothing to read back.
            return 202, subscriber_data(subscriber, subscriptions=[outcome.subscription for outcome in outcomes])
        return 202, _fresh(subscriber)

    return idempotent(request, action, prepare=read)


def _import_documented(request, payload: SubscriberCreateIn, mailing_lists, *, language) -> Subscriber:
    details = {"source": "api", "api_key": request.auth.prefix}
    if payload.consented_at:
        details["consented_at"] = payload.consented_at.isoformat()
    try:
        return subscriber_import_one(
            email=payload.email,
            mailing_lists=mailing_lists,
            consent_source=payload.consent_source,
            first_name=payload.first_name,
            last_name=payload.last_name,
            language=language,
            details=details,
        )
    except ImportRefused as refused:
        reasons = {where: ImportProblem.describe(reason) for where, reason in refused.reasons.items()}
        raise Problem(
            409,
            _("Nothing was changed: %(reasons)s")
            % {"reasons": "; ".join(f"{where}: {text}" for where, text in reasons.items())},
            extra={"refused": refused.reasons},
        ) from refused


@router.get(
    "/",
    response={200: SubscriberPage, **PROBLEMS},
    auth=SUBSCRIBERS_READ,
    summary="Subscribers, in pages, with filters",
    description="In id order; every filter narrows the result. `?email=` finds one address exactly.",
)
def subscriber_index(
    request,
    filters: Query[SubscriberFilters],
    page: Query[PageQuery],
):
    subscribers = subscribers_for_output()
    if filters.email is not None:
        subscribers = subscribers.filter(email=normalise_email(filters.email))
    if filters.status:
        subscribers = subscribers.filter(status=filters.status)
    if filters.list:
        mailing_list = mailing_lists_resolve([filters.list])[0]
        on_list = Subscription.objects.filter(subscriber=OuterRef("pk"), mailing_list=mailing_list)
        if filters.subscription_status:
            on_list = on_list.filter(status=filters.subscription_status)
        subscribers = subscribers.filter(Exists(on_list))
    elif filters.subscription_status:
        raise Problem(422, _("subscription_status goes only with list."))
    if filters.tag:
        subscribers = subscribers.filter(tags__name=filters.tag.strip())
    if filters.updated_since:
        subscribers = subscribers.filter(updated_at__gte=filters.updated_since)
    return paginate(request, subscribers, page=page, serialize=subscriber_data)


@router.get(
    "/{subscriber_id}", response={200: SubscriberOut, **PROBLEMS}, auth=SUBSCRIBERS_READ, summary="One subscriber"
)
def subscriber_detail(request, subscriber_id: UUID):
    return subscriber_data(_subscriber_or_404(subscriber_id))


@router.patch(
    "/{subscriber_id}",
    response={200: SubscriberOut, **PROBLEMS},
    auth=SUBSCRIBERS_WRITE,
    summary="Change names, language or tags",
    description="Fields left out stay as they are. " + IDEMPOTENCY_HEADER_DOC,
)
def subscriber_patch(request, subscriber_id: UUID, payload: SubscriberPatchIn):
    subscriber = _subscriber_or_404(subscriber_id)

    def action():
        updated = subscriber_profile_update(
            subscriber=subscriber,
            first_name=payload.first_name,
            last_name=payload.last_name,
            language=payload.language.value if payload.language else None,
            tags_add=payload.tags_add,
            tags_remove=payload.tags_remove,
        )
        return 200, _fresh(updated)

    return idempotent(request, action)


@router.post(
    "/{subscriber_id}/unsubscribe",
    response={200: SubscriberOut, **PROBLEMS},
    auth=SUBSCRIBERS_WRITE,
    summary="Unsubscribe from one list or from all",
    description=IDEMPOTENCY_HEADER_DOC,
)
def subscriber_unsubscribe_endpoint(request, subscriber_id: UUID, payload: UnsubscribeIn):
    subscriber = _subscriber_or_404(subscriber_id)

    def action():
        mailing_list = mailing_lists_resolve([payload.list])[0] if payload.list is not None else None
        subscriber_unsubscribe(subscriber=subscriber, source="api", mailing_list=mailing_list)
        return 200, _fresh(subscriber)

    return idempotent(request, action)


@router.get(
    "/{subscriber_id}/export",
    response={200: dict, **PROBLEMS},
    auth=SUBSCRIBERS_EXPORT,
    summary="Everything Kanal stores about the subscriber (GDPR Art. 15 and 20)",
    description="The same JSON as the subscriber's own data link: profile, subscriptions, consent "
    "records and every other app's section.",
)
def subscriber_export_endpoint(request, subscriber_id: UUID):
    return gdpr.subscriber_export(subscriber=_subscriber_or_404(subscriber_id))


@router.post(
    "/{subscriber_id}/erase",
    response={200: ErasedOut, **PROBLEMS},
    auth=SUBSCRIBERS_ERASE,
    summary="Erase the subscriber (GDPR Art. 17)",
    description="The same erase as the subscriber's own data link: their data is deleted, the address is "
    "kept only as a hash so no import re-adds it. Afterwards the id is unknown (404); send an "
    "Idempotency-Key to get the first answer again on a retry.",
)
def subscriber_erase_endpoint(request, subscriber_id: UUID):
    def action():
        # Looked up inside: a retry with the same Idempotency-Key replays, although the id is gone.
        gdpr.subscriber_erase(subscriber=_subscriber_or_404(subscriber_id))
        return 200, {"erased": True}

    return idempotent(request, action)
