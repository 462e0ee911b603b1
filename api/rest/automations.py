"""``/api/v1/automations/``: enrol a subscriber into an automation whose trigger is "api"."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router

from api.rest.auth import AUTOMATIONS_ENROL
from api.rest.idempotency import idempotent
from api.rest.problems import Problem
from api.rest.schemas import PROBLEMS, EnrolIn, EnrolledOut
from automations import kinds
from automations.models import Automation
from automations.services import journey_enrol
from subscribers.models import Subscriber

router = Router(tags=["automations"])


@router.post(
    "/{automation_id}/enrol",
    response={202: EnrolledOut, **PROBLEMS},
    auth=AUTOMATIONS_ENROL,
    summary="Enter a subscriber into an automation, with data for its mails",
    description="Only for an active automation whose trigger is “enrolled through the REST API”. The "
    "automation's entry rules decide as for every trigger: the subscriber must be active and not "
    "suppressed, in the entry segment if there is one, and allowed by the re-entry rule; otherwise "
    "409. `payload` values are the mails' `{{ subscriber.payload.<key> }}`. Send an Idempotency-Key "
    "to make a retry safe.",
)
def automation_enrol(request, automation_id: int, payload: EnrolIn):
    def action():
        automation = get_object_or_404(Automation, pk=automation_id)
        if automation.trigger_kind != kinds.API_ENROLLED or automation.status != Automation.Status.ACTIVE:
            raise Problem(409, _("This automation is not active or is not entered through the API."))
        subscriber = get_object_or_404(Subscriber, public_id=payload.subscriber)
        journey = journey_enrol(automation=automation, subscriber=subscriber, payload=payload.payload)
        if journey is None:
            raise Problem(
                409,
                _(
                    "The subscriber did not enter: they are not active, are suppressed, are outside the entry "
                    "segment, or the automation's re-entry rule keeps them out."
                ),
            )
        return 202, {"journey": journey.pk, "entered_at": journey.entered_at.isoformat()}

    return idempotent(request, action)
