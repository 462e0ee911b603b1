"""The behavioural and date trigger kinds, how an event matches them, and which steps start which triggers.

Registered by ``register_behaviour_triggers`` from ``AutomationsConfig.ready``. The receivers that
fire them are in ``automations.signals``, the beat evaluations in ``automations.services``. See
docs/architecture.md, Automations, Behavioural and date triggers.
"""

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from automations import kinds
from campaigns.models import Article, Campaign
from offers.models import Offer
from referrals.models import Milestone
from subscribers.models import CustomField, MailingList
from surveys.models import Choice, Question
from tracking.models import TrackedLink

CLICKED, OPENED = "campaign_clicked", "campaign_opened"
ANSWERED, FEEDBACK = "question_answered", "article_feedback"
INACTIVE, DATE_REACHED = "no_engagement", "date_reached"
MILESTONE_REACHED = "referral_milestone"
OFFER_REDEEMED, OFFER_DEADLINE = "offer_redeemed", "offer_deadline"
SHARED = "campaign_shared"

NPS_GROUPS = {"detractor": (0, 6), "passive": (7, 8), "promoter": (9, 10)}
ANSWER_CONDITIONS = ("any", *NPS_GROUPS, "rating_at_most", "rating_at_least", "choice")

CAMPAIGN_GONE = _("The campaign %(id)s no longer exists.")
ARTICLE_GONE = _("The article %(id)s no longer exists.")
QUESTION_GONE = _("The survey question %(id)s no longer exists.")
FIELD_GONE = _("The custom field %(id)s no longer exists.")
MILESTONE_GONE = _("The referral milestone %(id)s no longer exists.")
OFFER_GONE = _("The offer %(id)s no longer exists.")


def _whole(params: dict, name: str) -> int:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(gettext("“%(name)s” must be a whole number of zero or more.") % {"name": name})
    return value


def _bool(params: dict, name: str) -> bool:
    value = params.get(name)
    if not isinstance(value, bool):
        raise ValidationError(gettext("“%(name)s” must be true or false.") % {"name": name})
    return value


def _only(params: dict, allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError(gettext("Unknown parameters: %(names)s.") % {"names": ", ".join(unknown)})


def _gone(model, pk, message) -> list[str]:
    return [] if model.objects.filter(pk=pk).exists() else [str(message) % {"id": pk}]


# Clicked or opened a campaign


def _clicked_clean(params: dict) -> dict:
    _only(params, {"campaign", "link", "article"})
    cleaned = {"campaign": kinds.ref(params, "campaign")}
    if params.get("link") is not None and params.get("article") is not None:
        raise ValidationError(gettext("Choose a link or an article, not both."))
    for name in ("link", "article"):
        if params.get(name) is not None:
            cleaned[name] = kinds.ref(params, name)
    return cleaned


def _clicked_problems(params: dict) -> list[str]:
    problems = _gone(Campaign, params["campaign"], CAMPAIGN_GONE)
    if "link" in params and not TrackedLink.objects.filter(pk=params["link"], campaign=params["campaign"]).exists():
        problems.append(gettext("The link %(id)s is not a link of this campaign any more.") % {"id": params["link"]})
    if "article" in params and not Article.objects.filter(pk=params["article"], campaign=params["campaign"]).exists():
        problems.append(str(ARTICLE_GONE) % {"id": params["article"]})
    return problems


def clicked_matches(params: dict, *, link_id: int | None, article_id: int | None) -> bool:
    """Whether a click on ``link_id`` (in ``article_id``) is one the trigger waits for; the campaign is
    matched by ``trigger_fire``."""
    return params.get("link") in (None, link_id) and params.get("article") in (None, article_id)


def _opened_clean(params: dict) -> dict:
    _only(params, {"campaign"})
    return {"campaign": kinds.ref(params, "campaign")}


def _opened_problems(params: dict) -> list[str]:
    return _gone(Campaign, params["campaign"], CAMPAIGN_GONE)


# Answered a survey question


def _answered_clean(params: dict) -> dict:
    _only(params, {"question", "condition", "value"})
    cleaned = {"question": kinds.ref(params, "question"), "condition": params.get("condition")}
    if cleaned["condition"] not in ANSWER_CONDITIONS:
        raise ValidationError(
            gettext("The condition must be one of: %(names)s.") % {"names": ", ".join(ANSWER_CONDITIONS)}
        )
    if cleaned["condition"] in ("rating_at_most", "rating_at_least"):
        cleaned["value"] = _whole(params, "value")
    elif cleaned["condition"] == "choice":
        cleaned["value"] = kinds.ref(params, "value")
    elif params.get("value") is not None:
        raise ValidationError(gettext("This condition takes no value."))
    return cleaned


def _answered_problems(params: dict) -> list[str]:
    question = Question.objects.filter(pk=params["question"]).first()
    if question is None:
        return [str(QUESTION_GONE) % {"id": params["question"]}]
    condition = params["condition"]
    if condition in NPS_GROUPS and question.kind != Question.Kind.NPS:
        return [gettext("Detractor, passive and promoter need a recommendation question (0–10).")]
    if condition in ("rating_at_most", "rating_at_least") and not question.score_range:
        return [gettext("A score condition needs a question answered with a number.")]
    if condition == "choice" and not Choice.objects.filter(pk=params["value"], question=question).exists():
        return [gettext("The option %(id)s is no longer an option of this question.") % {"id": params["value"]}]
    return []


def answer_meets(params: dict, *, value: int | None, choice_ids: set[int]) -> bool:
    """Whether a stored answer (a score, or the chosen options) meets the trigger's condition."""
    condition = params.get("condition")
    if condition == "any":
        return True
    if condition == "choice":
        return params.get("value") in choice_ids
    if value is None:
        return False
    if condition in NPS_GROUPS:
        low, high = NPS_GROUPS[condition]
        return low <= value <= high
    if condition == "rating_at_most":
        return value <= params["value"]
    if condition == "rating_at_least":
        return value >= params["value"]
    return False


# Said an article was (not) useful


def _feedback_clean(params: dict) -> dict:
    _only(params, {"article", "useful"})
    return {"article": kinds.ref(params, "article"), "useful": _bool(params, "useful")}


def _feedback_problems(params: dict) -> list[str]:
    return _gone(Article, params["article"], ARTICLE_GONE)


# No human open or click for N days


def _inactive_clean(params: dict) -> dict:
    _only(params, {"days", "list"})
    days = params.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 3650:
        raise ValidationError(gettext("“days” must be a whole number from 1 to 3650."))
    cleaned = {"days": days}
    if params.get("list") is not None:
        cleaned["list"] = kinds.ref(params, "list")
    return cleaned


def _inactive_problems(params: dict) -> list[str]:
    return _gone(MailingList, params["list"], kinds.LIST_GONE) if "list" in params else []


# A custom date field reached


def _date_clean(params: dict) -> dict:
    _only(params, {"field", "offset_days", "yearly"})
    offset = params.get("offset_days", 0)
    if isinstance(offset, bool) or not isinstance(offset, int) or not -3650 <= offset <= 3650:
        raise ValidationError(gettext("“offset_days” must be a whole number from -3650 to 3650."))
    return {"field": kinds.ref(params, "field"), "offset_days": offset, "yearly": _bool(params, "yearly")}


def _date_problems(params: dict) -> list[str]:
    field = CustomField.objects.filter(pk=params["field"]).first()
    if field is None:
        return [str(FIELD_GONE) % {"id": params["field"]}]
    if field.kind != CustomField.Kind.DATE:
        return [gettext("The custom field “%(key)s” is not a date field.") % {"key": field.key}]
    return []


# Reached a referral milestone (referrals.signals.milestone_reached)


def _milestone_problems(params: dict) -> list[str]:
    return _gone(Milestone, params["milestone"], MILESTONE_GONE)


# Redeemed an offer (offers.signals.redemption_recorded), and an offer's deadline near, not redeemed


def _redeemed_clean(params: dict) -> dict:
    _only(params, {"offer"})
    return {"offer": kinds.ref(params, "offer")} if params.get("offer") is not None else {}


def _redeemed_problems(params: dict) -> list[str]:
    return _gone(Offer, params["offer"], OFFER_GONE) if "offer" in params else []


def redeemed_matches(params: dict, *, offer_id: int) -> bool:
    """Whether a redemption of ``offer_id`` is one the trigger waits for (its offer, or any)."""
    return params.get("offer") in (None, offer_id)


def _deadline_clean(params: dict) -> dict:
    _only(params, {"offer", "days"})
    days = params.get("days")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise ValidationError(gettext("“days” must be a whole number from 1 to 365."))
    return {"offer": kinds.ref(params, "offer"), "days": days}


def _deadline_problems(params: dict) -> list[str]:
    offer = Offer.objects.filter(pk=params["offer"]).first()
    if offer is None:
        return [str(OFFER_GONE) % {"id": params["offer"]}]
    if offer.code_source == Offer.CodeSource.SHARED:
        return [
            gettext("The offer “%(name)s” has one shared code: nobody was given a code of their own.")
            % {"name": offer.name}
        ]
    return []


# Forwarded or shared a campaign (sharing.signals.campaign_shared: people's events only)


def _shared_clean(params: dict) -> dict:
    _only(params, {"campaign"})
    return {"campaign": kinds.ref(params, "campaign")} if params.get("campaign") is not None else {}


def _shared_problems(params: dict) -> list[str]:
    return _gone(Campaign, params["campaign"], CAMPAIGN_GONE) if "campaign" in params else []


def shared_matches(params: dict, *, campaign_id: int) -> bool:
    """Whether a forward or share of ``campaign_id`` is one the trigger waits for (its campaign, or any)."""
    return params.get("campaign") in (None, campaign_id)


# Steps that start triggers: the edges of the loop check in services.automation_problems. A step
# kind maps to the (trigger kind, parameters the trigger must include) it can fire.
STEP_STARTS: dict[str, Callable[[dict], list[tuple[str, dict]]]] = {}


def step_starts_register(step_kind: str, starts: Callable[[dict], list[tuple[str, dict]]]) -> None:
    STEP_STARTS[step_kind] = starts


def steps_start(steps) -> list[tuple[str, dict]]:
    """Every (trigger kind, match) the steps can fire."""
    fired = []
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict) and step.get("kind") in STEP_STARTS:
            fired.extend(STEP_STARTS[step["kind"]](step))
    return fired


CAMPAIGN_FIELD = kinds.FormField("campaign", _("campaign"), "ref:campaigns.Campaign")
CONDITION_LABELS = {
    "any": _("any answer"),
    "detractor": _("detractor (0–6)"),
    "passive": _("passive (7–8)"),
    "promoter": _("promoter (9–10)"),
    "rating_at_most": _("score at most"),
    "rating_at_least": _("score at least"),
    "choice": _("chose the option"),
}
TRIGGER_FIELDS = {
    CLICKED: (
        CAMPAIGN_FIELD,
        kinds.FormField("link", _("only this link (its number; empty: any)"), "int", required=False),
        kinds.FormField("article", _("only this article (empty: any)"), "ref:campaigns.Article", required=False),
    ),
    OPENED: (CAMPAIGN_FIELD,),
    ANSWERED: (
        kinds.FormField("question", _("survey question"), "ref:surveys.Question"),
        kinds.FormField("condition", _("condition"), "choice", choices=lambda: list(CONDITION_LABELS.items())),
        kinds.FormField("value", _("score or option number"), "int", required=False),
    ),
    FEEDBACK: (
        kinds.FormField("article", _("article"), "ref:campaigns.Article"),
        kinds.FormField("useful", _("useful (unticked: not useful)"), "bool"),
    ),
    INACTIVE: (
        kinds.FormField("days", _("days without a human open or click"), "int"),
        kinds.FormField(
            "list", _("only subscribers of this list (empty: all)"), "ref:subscribers.MailingList", required=False
        ),
    ),
    MILESTONE_REACHED: (kinds.FormField("milestone", _("referral milestone"), "ref:referrals.Milestone"),),
    OFFER_REDEEMED: (kinds.FormField("offer", _("only this offer (empty: any)"), "ref:offers.Offer", required=False),),
    SHARED: (
        kinds.FormField("campaign", _("only this campaign (empty: any)"), "ref:campaigns.Campaign", required=False),
    ),
    OFFER_DEADLINE: (
        kinds.FormField("offer", _("offer"), "ref:offers.Offer"),
        kinds.FormField("days", _("days before the offer ends"), "int"),
    ),
    DATE_REACHED: (
        kinds.FormField(
            "field",
            _("date field"),
            "ref:subscribers.CustomField",
            choices=lambda: list(
                CustomField.objects.filter(kind=CustomField.Kind.DATE).order_by("key").values_list("pk", "key")
            ),
        ),
        kinds.FormField("offset_days", _("days after (negative: before)"), "int", required=False),
        kinds.FormField("yearly", _("every year (birthdays, anniversaries)"), "bool"),
    ),
}


def register_behaviour_triggers() -> None:
    behavioural = (
        (CLICKED, _("clicked a link or article of a campaign"), _clicked_clean, _clicked_problems),
        (OPENED, _("opened a campaign"), _opened_clean, _opened_problems),
        (ANSWERED, _("answered a survey question"), _answered_clean, _answered_problems),
        (FEEDBACK, _("said an article was (not) useful"), _feedback_clean, _feedback_problems),
        (INACTIVE, _("no human open or click for days"), _inactive_clean, _inactive_problems),
        # A redemption is the shop's report of what a person did with their code: behaviour, so
        # only with tracking consent, like segments' offer conditions (offers.conditions).
        (OFFER_REDEEMED, _("redeemed an offer"), _redeemed_clean, _redeemed_problems),
        (SHARED, _("forwarded or shared a campaign"), _shared_clean, _shared_problems),
        (
            OFFER_DEADLINE,
            _("offer deadline approaching, code not redeemed"),
            _deadline_clean,
            _deadline_problems,
        ),
    )
    for key, label, clean, problems in behavioural:
        kinds.trigger_register(
            kinds.TriggerKind(
                key, label, clean, problems, needs_tracking_consent=True, form_fields=TRIGGER_FIELDS.get(key, ())
            )
        )
    kinds.trigger_register(
        kinds.TriggerKind(
            DATE_REACHED,
            _("custom date field reached"),
            _date_clean,
            _date_problems,
            form_fields=TRIGGER_FIELDS[DATE_REACHED],
        )
    )
    kinds.trigger_register(
        kinds.TriggerKind(
            MILESTONE_REACHED,
            _("reached a referral milestone"),
            kinds.ref_clean("milestone"),
            _milestone_problems,
            form_fields=TRIGGER_FIELDS[MILESTONE_REACHED],
        )
    )
    step_starts_register("tag_add", lambda step: [(kinds.TAG_ADDED, {"tag": step.get("tag")})])
    step_starts_register("list_subscribe", lambda step: [(kinds.SUBSCRIPTION_CONFIRMED, {"list": step.get("list")})])
