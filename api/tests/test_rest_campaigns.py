"""``/api/v1/campaigns/``: list, one campaign, and its figures (people by default)."""

import pytest
from django.utils import timezone

from api.tests.conftest import assert_problem, call, make_key
from campaigns.models import Campaign
from campaigns.rendering import compile_campaign
from surveys.models import Response
from surveys.tests.factories import SurveyFactory
from tracking import selectors
from tracking.services import campaign_links_register
from tracking.tests.conftest import hit, process, urls_for
from tracking.tests.factories import ArticleFactory, CampaignFactory, DeliveryFactory, SubscriberFactory

pytestmark = pytest.mark.django_db

APPLE_PROXY = "Mozilla/5.0"


@pytest.fixture
def key():
    return make_key(["campaigns:read"])


@pytest.fixture
def sent():
    """A sent campaign of one article with its links registered, as tracking's URLs need."""
    campaign = CampaignFactory(name="November", status=Campaign.Status.SENT, started_at=timezone.now())
    ArticleFactory(campaign=campaign, position=0, headline="Eins", link_url="https://example.org/eins", body="")
    link_ids = campaign_links_register(campaign=campaign, compiled=compile_campaign(campaign))
    return type("Sent", (), {"campaign": campaign, "link_ids": link_ids})


def test_campaigns_are_listed_in_pages_without_templates(client, key):
    first, second = CampaignFactory(name="A"), CampaignFactory(name="B", status=Campaign.Status.SENT)
    Campaign.objects.filter(pk=CampaignFactory(name="Template").pk).update(is_template=True)
    page = call(client, "get", "/api/v1/campaigns/?limit=1", key).json()
    rest = call(client, "get", page["next"], key).json()
    assert [c["name"] for c in page["results"] + rest["results"]] == ["A", "B"]
    assert rest["next"] is None
    sent_only = call(client, "get", "/api/v1/campaigns/?status=sent", key).json()["results"]
    assert [c["id"] for c in sent_only] == [second.pk]
    one = call(client, "get", f"/api/v1/campaigns/{first.pk}", key).json()
    assert (one["name"], one["status"], one["kind"]) == ("A", "draft", "newsletter")
    assert_problem(call(client, "get", "/api/v1/campaigns/999999", key), 404)
    assert_problem(call(client, "get", "/api/v1/campaigns/", make_key()), 403)


def test_stats_count_people_and_add_machines_only_when_asked(client, key, sent):
    readers = [
        DeliveryFactory(campaign=sent.campaign, subscriber=SubscriberFactory(tracking_consent=True)) for _ in range(2)
    ]
    private = DeliveryFactory(campaign=sent.campaign, subscriber=SubscriberFactory(tracking_consent=False))
    pixel, clicks = urls_for(sent, readers[0])
    hit(client, pixel)
    hit(client, clicks[0])
    hit(client, urls_for(sent, readers[1])[0], user_agent=APPLE_PROXY)
    hit(client, urls_for(sent, private)[0])
    process()

    stats = call(client, "get", f"/api/v1/campaigns/{sent.campaign.pk}/stats", key)
    assert stats.status_code == 200, stats.content
    figures = stats.json()
    funnel = selectors.campaign_funnel(campaign=sent.campaign)
    assert figures["sent"] == funnel.sent == 3
    assert (figures["opens"], figures["unique_opens"], figures["anonymous_opens"]) == (2, 1, 1)
    assert (figures["clicks"], figures["unique_clicks"]) == (1, 1)
    assert figures["estimated_openers"] == funnel.estimated_openers
    assert figures["open_rate"] == funnel.open_rate
    assert figures["machine"] is None
    with_machines = call(client, "get", f"/api/v1/campaigns/{sent.campaign.pk}/stats?include=machine", key).json()
    assert with_machines["machine"] == {"opens": 1, "clicks": 0}
    assert with_machines["opens"] == 2, "people stay people when machines are shown too"
    assert_problem(call(client, "get", f"/api/v1/campaigns/{sent.campaign.pk}/stats?include=robots", key), 422)


def test_stats_carry_the_tables_other_apps_add_to_the_analytics_page(client, key, sent):
    survey = SurveyFactory(title="Wie war's?", campaign=sent.campaign)
    Response.objects.create(survey=survey, source=Response.Source.choices[0][0])
    figures = call(client, "get", f"/api/v1/campaigns/{sent.campaign.pk}/stats", key).json()
    surveys = next(table for table in figures["tables"] if table["slug"] == "surveys")
    assert surveys["columns"] == ["survey", "responses"]
    assert surveys["rows"] == [["Wie war's?", 1]]
    assert "offers" in {table["slug"] for table in figures["tables"]}
