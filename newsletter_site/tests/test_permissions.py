"""Every staff page and custom admin URL, walked with users who lack its permission.

``STAFF_PAGES`` names what each page needs. ``test_every_staff_url_is_in_the_table`` fails when a
route under ``/staff/`` or an admin URL a ModelAdmin adds is missing from it, so a new staff page
cannot be forgotten here.
"""

import dataclasses
import re
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils import timezone

from automations.models import Automation, AutomationVersion
from campaigns.tests.factories import ArticleFactory, CampaignFactory
from newsletter_site.testing import staff_login
from offers.models import Offer
from subscribers import links
from subscribers.models import ConsentRecord, SubscriberImport
from subscribers.services import imports
from subscribers.tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory, TagFactory
from surveys.models import Question
from surveys.services import response_submit
from surveys.tests.factories import QuestionFactory, SurveyFactory
from transactional.tests.factories import TransactionalTemplateFactory

pytestmark = pytest.mark.django_db

ADDRESS = "geheim.leserin@example.org"
FIRST_NAME = "Walburga"
ANSWER = "Meine private Antwort"
WAIT_A_DAY = [{"kind": "wait", "days": 1}]


@dataclasses.dataclass
class World:
    mailing_list: object
    subscriber: object
    campaign: object
    survey: object
    subscriber_import: object
    other_user: object
    automation: object
    offer: object
    transactional_template: object


@pytest.fixture
def world():
    mailing_list = MailingListFactory(slug="kiez")
    subscriber = SubscriberFactory(email=ADDRESS, first_name=FIRST_NAME)
    SubscriptionFactory(subscriber=subscriber, mailing_list=mailing_list)
    ConsentRecord.objects.create(
        subscriber=subscriber, mailing_list=mailing_list, action=ConsentRecord.Action.CONFIRM, ip_address="192.0.2.7"
    )
    campaign = CampaignFactory(subject='Hallo {{ subscriber.first_name|default:"Leserin" }}')
    campaign.mailing_lists.add(mailing_list)
    ArticleFactory(campaign=campaign)
    survey = SurveyFactory(campaign=campaign)
    question = QuestionFactory(survey=survey, kind=Question.Kind.FREE_TEXT)
    response_submit(survey=survey, answers={question.pk: ANSWER}, subscriber=subscriber, source="mail")
    subscriber_import = imports.subscriber_import_create(
        upload=SimpleUploadedFile("list.csv", f"email\n{ADDRESS}\n".encode(), content_type="text/csv"),
        mailing_list=mailing_list,
        tags=[],
        consent_basis=SubscriberImport.ConsentBasis.DOCUMENTED,
        consent_source="Messe 2026",
        created_by=None,
    )
    other_user = get_user_model().objects.create_user("colleague", "colleague@example.org", is_staff=True)
    automation = Automation.objects.create(
        name="Willkommen", trigger_kind="tag_added", trigger_params={"tag": TagFactory().pk}, steps=WAIT_A_DAY
    )
    for number in (1, 2):  # moving journeys needs an older version
        AutomationVersion.objects.create(automation=automation, number=number, steps=WAIT_A_DAY)
    offer = Offer.objects.create(name="Rabatt", landing_url="https://shop.example.com/", expires_at=timezone.now())
    template = TransactionalTemplateFactory()
    return World(mailing_list, subscriber, campaign, survey, subscriber_import, other_user, automation, offer, template)


@dataclasses.dataclass(frozen=True)
class StaffPage:
    name: str  # the URL name, namespaced
    url: Callable[[World], str]
    permissions: tuple[str, ...]
    # What a user with exactly these permissions gets: 200, or 302 for POST-only actions, whose
    # GET leads back to the campaign, or 405 for a POST-only endpoint.
    allowed_status: int = 200
    query: str = ""

    def __str__(self):
        return self.name + self.query


def campaign_admin(action, *permissions, allowed_status=200, query=""):
    name = f"admin:campaigns_campaign_{action}"
    return StaffPage(name, lambda w: reverse(name, args=[w.campaign.pk]), permissions, allowed_status, query)


def import_admin(action, *permissions, allowed_status=200):
    name = f"admin:subscribers_subscriberimport_{action}"
    return StaffPage(name, lambda w: reverse(name, args=[w.subscriber_import.pk]), permissions, allowed_status)


def offer_admin(action, *permissions):
    name = f"admin:offers_offer_{action}"
    return StaffPage(name, lambda w: reverse(name, args=[w.offer.pk]), permissions)


FILL_POOL = ("offers.change_offer", "offers.add_coupon")


def analytics(name, *permissions, args=lambda w: []):
    name = f"tracking:{name}"
    return StaffPage(name, lambda w: reverse(name, args=args(w)), ("campaigns.view_campaign", *permissions))


def ab_test_admin(action, *permissions, allowed_status=200):
    def url(world):
        from experiments.tests.factories import ab_test_for

        ab_test = ab_test_for(CampaignFactory())
        return reverse(f"admin:experiments_abtest_{action}", args=[ab_test.pk])

    return StaffPage(f"admin:experiments_abtest_{action}", url, permissions, allowed_status)


def _both(world):
    return f"?a={world.campaign.pk}&b={world.campaign.pk}"


VIEW_CAMPAIGN, CHANGE_CAMPAIGN = "campaigns.view_campaign", "campaigns.change_campaign"
VIEW_SUBSCRIBER = "subscribers.view_subscriber"
IMPORT = ("subscribers.add_subscriberimport", "subscribers.add_subscriber")
VIEW_IMPORT = "subscribers.view_subscriberimport"
PERSONALISED = f"?subscriber={ADDRESS}"

STAFF_PAGES = [
    # A/B tests: results and their CSV hold only figures per variant; starting one sends campaigns.
    ab_test_admin("results", "experiments.view_abtest"),
    ab_test_admin("results_csv", "experiments.view_abtest"),
    ab_test_admin("start", "experiments.change_abtest", "campaigns.change_campaign", allowed_status=302),
    # The dashboard: campaign progress and figures; other apps' sections need their own view permission.
    StaffPage("dashboard:dashboard", lambda w: reverse("dashboard:dashboard"), (VIEW_CAMPAIGN,)),
    # A transactional template's preview fills placeholders for the request's values: view is enough.
    StaffPage(
        "admin:transactional_transactionaltemplate_preview",
        lambda w: reverse("admin:transactional_transactionaltemplate_preview", args=[w.transactional_template.pk]),
        ("transactional.view_transactionaltemplate",),
    ),
    # Moving running journeys between versions changes the automation.
    StaffPage(
        "admin:automations_automation_move_journeys",
        lambda w: reverse("admin:automations_automation_move_journeys", args=[w.automation.pk]),
        ("automations.change_automation",),
    ),
    # Campaign admin: a preview with placeholders needs view; a real subscriber needs view_subscriber.
    campaign_admin("preview", VIEW_CAMPAIGN),
    campaign_admin("preview", VIEW_CAMPAIGN, VIEW_SUBSCRIBER, query=PERSONALISED),
    campaign_admin("preview_html", VIEW_CAMPAIGN),
    campaign_admin("preview_html", VIEW_CAMPAIGN, VIEW_SUBSCRIBER, query=PERSONALISED),
    campaign_admin("progress", VIEW_CAMPAIGN),
    # The editor's live preview renders the posted, unsaved change form: POST only (GET gets 405).
    campaign_admin("editor_preview", CHANGE_CAMPAIGN, allowed_status=405),
    StaffPage(  # the same for the add form, before the campaign exists
        "admin:campaigns_campaign_add_editor_preview",
        lambda w: reverse("admin:campaigns_campaign_add_editor_preview"),
        ("campaigns.add_campaign",),
        405,
    ),
    # A follow-up to non-openers is a new campaign with a new segment.
    campaign_admin("follow_up", VIEW_CAMPAIGN, "campaigns.add_campaign", "audience.add_segment"),
    # The segment editor's live count shows a sample of matching subscribers.
    StaffPage(
        "admin:audience_segment_preview",
        lambda w: reverse("admin:audience_segment_preview"),
        ("audience.view_segment", VIEW_SUBSCRIBER),
    ),
    campaign_admin("send_test", CHANGE_CAMPAIGN),
    campaign_admin("schedule", CHANGE_CAMPAIGN),
    campaign_admin("duplicate", VIEW_CAMPAIGN, "campaigns.add_campaign", allowed_status=302),
    # Templates: a copy of the content, as duplicating is.
    campaign_admin("save_as_template", VIEW_CAMPAIGN, "campaigns.add_campaign", allowed_status=302),
    campaign_admin("use_template", VIEW_CAMPAIGN, "campaigns.add_campaign", allowed_status=302),
    campaign_admin("cancel", CHANGE_CAMPAIGN, allowed_status=302),
    campaign_admin("send_now", CHANGE_CAMPAIGN, allowed_status=302),
    campaign_admin("pause", CHANGE_CAMPAIGN, allowed_status=302),
    campaign_admin("resume", CHANGE_CAMPAIGN, allowed_status=302),
    # Imports: starting one creates subscribers; its report lists addresses.
    StaffPage(
        "admin:subscribers_subscriberimport_add", lambda w: reverse("admin:subscribers_subscriberimport_add"), IMPORT
    ),
    import_admin("mapping", *IMPORT),
    import_admin("change", VIEW_IMPORT, allowed_status=302),  # an uploaded import continues at its mapping
    import_admin("progress", VIEW_IMPORT),
    import_admin("report", VIEW_IMPORT, VIEW_SUBSCRIBER),
    # Read-only admin pages that used to let any staff user in.
    StaffPage(
        "admin:subscribers_consentrecord_changelist",
        lambda w: reverse("admin:subscribers_consentrecord_changelist"),
        ("subscribers.view_consentrecord",),
    ),
    StaffPage(
        "admin:subscribers_espevent_changelist",
        lambda w: reverse("admin:subscribers_espevent_changelist"),
        ("subscribers.view_espevent",),
    ),
    # Django's own: a user's password form.
    StaffPage(
        "admin:auth_user_password_change",
        lambda w: reverse("admin:auth_user_password_change", args=[w.other_user.pk]),
        ("auth.change_user",),
    ),
    # Sign-up form snippet.
    StaffPage(
        "subscribers:subscribe_embed_code",
        lambda w: reverse("subscribers:subscribe_embed_code", args=[w.mailing_list.slug]),
        ("subscribers.view_mailinglist",),
    ),
    # Survey results; the CSV carries addresses.
    StaffPage("surveys:comparison", lambda w: reverse("surveys:comparison"), ("surveys.view_survey",)),
    StaffPage("surveys:results", lambda w: reverse("surveys:results", args=[w.survey.pk]), ("surveys.view_survey",)),
    StaffPage(
        "surveys:results_csv",
        lambda w: reverse("surveys:results_csv", args=[w.survey.pk]),
        ("surveys.view_survey", VIEW_SUBSCRIBER),
    ),
    # Referral figures; top referrers show addresses only to those who may also view subscribers.
    StaffPage("referrals:analytics", lambda w: reverse("referrals:analytics"), ("referrals.view_referral",)),
    StaffPage(
        "referrals:analytics_growth_csv",
        lambda w: reverse("referrals:analytics_growth_csv"),
        ("referrals.view_referral",),
    ),
    # Analytics: aggregates need view_campaign; the per-subscriber CSV also view_subscriber.
    analytics("analytics_campaigns"),
    analytics("analytics_campaigns_csv"),
    StaffPage(
        "tracking:analytics_compare",
        lambda w: reverse("tracking:analytics_compare") + _both(w),
        (VIEW_CAMPAIGN,),
    ),
    StaffPage(
        "tracking:analytics_compare_csv",
        lambda w: reverse("tracking:analytics_compare_csv", args=["comparison_rates"]) + _both(w),
        (VIEW_CAMPAIGN,),
    ),
    analytics("analytics_campaign", args=lambda w: [w.campaign.pk]),
    analytics("analytics_campaign_csv", args=lambda w: [w.campaign.pk, "funnel"]),
    analytics("analytics_audience"),
    analytics("analytics_audience_csv", args=lambda w: ["segments"]),
    analytics("analytics_audience_subscribers_csv", VIEW_SUBSCRIBER),
    # Offers: filling a pool changes the offer and adds codes; the redemption upload redeems codes.
    offer_admin("generate", *FILL_POOL),
    offer_admin("upload", *FILL_POOL),
    offer_admin("shared", *FILL_POOL),
    StaffPage(
        "admin:offers_redemption_upload",
        lambda w: reverse("admin:offers_redemption_upload"),
        ("offers.view_coupon", "offers.add_redemption"),
    ),
]


def _walk(patterns, prefix=""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def _namespaced(route: str, pattern: URLPattern) -> str:
    match = resolve("/" + re.sub(r"<[^>]+>", "1", route))
    return f"{match.namespace}:{pattern.name}" if match.namespace else pattern.name


def staff_url_names() -> set[str]:
    """Every route under /staff/, every admin URL a ModelAdmin adds to Django's own, every guarded view."""
    names = set()
    for model_admin in admin.site._registry.values():
        defaults = {pattern.name for pattern in admin.ModelAdmin.get_urls(model_admin)}
        names |= {f"admin:{p.name}" for p in model_admin.get_urls() if p.name not in defaults}
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("staff/") or hasattr(pattern.callback, "staff_permissions"):
            names.add(_namespaced(route, pattern))
    return names


def test_every_staff_url_is_in_the_table():
    missing = staff_url_names() - {page.name for page in STAFF_PAGES}
    assert not missing, f"staff URLs without a row in STAFF_PAGES: {sorted(missing)}"


def test_every_staff_view_names_its_permissions_and_lives_under_staff_or_admin():
    for route, pattern in _walk(get_resolver().url_patterns):
        if route.startswith("staff/"):
            assert getattr(pattern.callback, "staff_permissions", None), f"/{route} does not name a permission"
        if hasattr(pattern.callback, "staff_permissions"):
            assert route.startswith(("staff/", "admin/")), f"/{route} is a staff page outside /staff/"


def _permission(name: str) -> Permission:
    app_label, codename = name.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _body(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


@pytest.mark.parametrize("page", STAFF_PAGES, ids=str)
def test_anonymous_visitors_are_sent_to_the_admin_login(client, world, page):
    response = client.get(page.url(world) + page.query)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login") + "?next=")


def _lacking(page):
    """No permission at all, then every permission there is but one of the page's (and, for a view
    permission, the change permission that implies it, as in Django's admin)."""
    everything = [f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")]
    yield ()
    for missing in page.permissions:
        withheld = {missing, missing.replace(".view_", ".change_")}
        yield tuple(name for name in everything if name not in withheld)


@pytest.mark.parametrize("page", STAFF_PAGES, ids=str)
def test_staff_lacking_the_permission_get_403_and_no_data(client, world, page):
    for granted in _lacking(page):
        get_user_model().objects.filter(username="staff").delete()
        staff_login(client, *granted)
        response = client.get(page.url(world) + page.query)
        body = _body(response)
        assert response.status_code == 403, f"{len(granted)} permissions got {response.status_code}"
        assert ADDRESS not in body and FIRST_NAME not in body and ANSWER not in body
    assert not mail.outbox


@pytest.mark.parametrize("page", STAFF_PAGES, ids=str)
def test_staff_with_exactly_the_named_permissions_get_the_page(client, world, page):
    staff_login(client, *page.permissions)
    response = client.get(page.url(world) + page.query)
    assert response.status_code == page.allowed_status
    if page.allowed_status == 302:
        assert not response["Location"].startswith(reverse("admin:login"))


# What the permissions protect ---------------------------------------------------------------------


class _Hrefs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        self.hrefs += [value for name, value in attrs if name == "href" and value]


SELF_SERVICE = {"unsubscribe", "one_click_unsubscribe", "preferences", "export", "erase"}


def _self_service_links(html: str) -> list[str]:
    parser = _Hrefs()
    parser.feed(html)
    found = []
    for href in parser.hrefs:
        if not href.startswith(settings.SITE_URL) and not href.startswith("/"):
            continue
        try:
            match = resolve(urlsplit(href).path)
        except Exception:  # noqa: S112 - an address outside Kanal's URLs acts for nobody
            continue
        if match.namespace == "subscribers" and match.url_name in SELF_SERVICE:
            found.append(href)
    return found


def test_preview_as_a_subscriber_renders_inert_links(admin_client, world):
    url = reverse("admin:campaigns_campaign_preview_html", args=[world.campaign.pk]) + PERSONALISED
    html = admin_client.get(url).content.decode()
    assert FIRST_NAME in html  # personalised, yet no link acts for this subscriber
    assert links.unsubscribe_url(world.subscriber) not in html
    assert links.preferences_url(world.subscriber) not in html
    assert _self_service_links(html) == []


def test_preview_as_a_subscriber_is_personalised_for_who_may_see_subscribers(client, world):
    staff_login(client, VIEW_CAMPAIGN, VIEW_SUBSCRIBER)
    page = client.get(reverse("admin:campaigns_campaign_preview", args=[world.campaign.pk]) + PERSONALISED)
    assert page.status_code == 200
    assert f"Hallo {FIRST_NAME}" in page.content.decode()


def test_view_only_staff_see_placeholders_not_a_real_subscriber(client, world):
    staff_login(client, VIEW_CAMPAIGN)
    for name in ("preview", "preview_html"):
        response = client.get(reverse(f"admin:campaigns_campaign_{name}", args=[world.campaign.pk]))
        body = response.content.decode()
        assert response.status_code == 200
        assert FIRST_NAME not in body and ADDRESS not in body
        assert _self_service_links(body) == []


def test_view_only_staff_cannot_send_a_test(client, world):
    staff_login(client, VIEW_CAMPAIGN)
    url = reverse("admin:campaigns_campaign_send_test", args=[world.campaign.pk])
    response = client.post(url, {"addresses": "outside@example.net"})
    assert response.status_code == 403
    assert mail.outbox == []


def test_a_test_send_as_a_real_subscriber_needs_permission_to_view_subscribers(client, world):
    staff_login(client, CHANGE_CAMPAIGN)
    url = reverse("admin:campaigns_campaign_send_test", args=[world.campaign.pk])
    assert 'name="as_subscriber"' not in client.get(url).content.decode()
    for data in ({"addresses": "outside@example.net", "as_subscriber": ADDRESS}, {"addresses": "outside@example.net"}):
        assert client.post(url, data).status_code == 302
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        parts = [message.subject, message.body, *(content for content, _type in message.alternatives)]
        assert not [part for part in parts if FIRST_NAME in part]


def test_staff_without_permissions_cannot_read_survey_results_or_their_csv(client, world):
    staff_login(client)
    for url in (
        reverse("surveys:results", args=[world.survey.pk]),
        reverse("surveys:results_csv", args=[world.survey.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 403
        assert ANSWER not in _body(response) and ADDRESS not in _body(response)


@pytest.mark.parametrize(
    ("changelist", "selected", "granted"),
    [
        ("admin:subscribers_mailinglist_changelist", lambda w: w.mailing_list.pk, ("subscribers.view_mailinglist",)),
        ("admin:subscribers_subscriber_changelist", lambda w: w.subscriber.pk, (VIEW_SUBSCRIBER,)),
    ],
)
def test_consent_proof_export_needs_permission_to_view_subscribers_and_consent_records(
    client, world, changelist, selected, granted
):
    staff_login(client, *granted)
    response = client.post(
        reverse(changelist), {"action": "export_consent_proof", "_selected_action": [selected(world)]}
    )
    assert not response["Content-Type"].startswith("text/csv")
    assert ADDRESS not in _body(response)
    get_user_model().objects.get(username="staff").user_permissions.add(
        _permission(VIEW_SUBSCRIBER), _permission("subscribers.view_consentrecord")
    )
    response = client.post(
        reverse(changelist), {"action": "export_consent_proof", "_selected_action": [selected(world)]}
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")


def test_view_only_staff_are_not_offered_buttons_they_may_not_use(client, world):
    staff_login(client, VIEW_CAMPAIGN)
    page = client.get(reverse("admin:campaigns_campaign_change", args=[world.campaign.pk])).content.decode()
    assert reverse("admin:campaigns_campaign_preview", args=[world.campaign.pk]) in page
    for action in ("send_test", "schedule"):
        assert reverse(f"admin:campaigns_campaign_{action}", args=[world.campaign.pk]) not in page
    assert 'form="campaign-send-now"' not in page and 'form="campaign-duplicate"' not in page
    assert 'form="campaign-save-as-template"' not in page


def test_survey_results_offer_the_csv_only_to_who_may_download_it(client, world):
    user = staff_login(client, "surveys.view_survey")
    csv_url = reverse("surveys:results_csv", args=[world.survey.pk])
    results = reverse("surveys:results", args=[world.survey.pk])
    assert csv_url not in client.get(results).content.decode()
    user.user_permissions.add(_permission(VIEW_SUBSCRIBER))
    assert csv_url in client.get(results).content.decode()
