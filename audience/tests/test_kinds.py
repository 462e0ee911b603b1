"""Every condition kind picks the right subscribers, through the same SQL a campaign uses."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audience import conditions
from audience.selectors import segment_members, segment_problems
from audience.tests.factories import event, leaf, not_
from campaigns.models import Delivery
from campaigns.tests.factories import ArticleFactory, CampaignFactory, MailingListFactory, TagFactory
from offers.models import Offer, Redemption
from offers.services.redemption import offer_redeem
from offers.tests.factories import CouponFactory, OfferFactory, given_code
from sharing.models import SharingEvent
from sharing.services import share_record
from subscribers.models import ConsentRecord, CustomField, Subscriber, Subscription
from subscribers.tests.factories import SubscriberFactory, SubscriptionFactory
from surveys.models import Answer, ArticleFeedback, Question, Response
from surveys.tests.factories import ChoiceFactory, QuestionFactory
from tracking.models import DeliveryReport, Event, SubscriberEngagement, TrackedLink
from tracking.tests.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def members(rules) -> set[str]:
    return set(segment_members(rules).values_list("email", flat=True))


def person(name: str, **fields) -> Subscriber:
    return SubscriberFactory(email=f"{name}@example.org", **{"tracking_consent": True, **fields})


def test_every_registered_kind_has_a_test_here():
    tested = {name.removeprefix("test_kind_").split("__")[0] for name in globals() if name.startswith("test_kind_")}
    assert set(conditions.KINDS) <= tested


def test_kind_lists():
    kiez, other = MailingListFactory(), MailingListFactory()
    SubscriptionFactory(subscriber=person("anna"), mailing_list=kiez)
    SubscriptionFactory(subscriber=person("ben"), mailing_list=kiez, status=Subscription.Status.UNSUBSCRIBED)
    SubscriptionFactory(subscriber=person("cem"), mailing_list=other)
    assert members(leaf("lists", lists=[kiez.pk])) == {"anna@example.org"}
    assert members(leaf("lists", lists=[kiez.pk, other.pk])) == {"anna@example.org", "cem@example.org"}


def test_kind_tags():
    vip = TagFactory(name="vip")
    person("anna").tags.add(vip)
    person("ben")
    assert members(leaf("tags", tags=[vip.pk])) == {"anna@example.org"}


def test_kind_status():
    person("anna")
    person("ben", status=Subscriber.Status.UNSUBSCRIBED)
    assert members(leaf("status", status="unsubscribed")) == {"ben@example.org"}


def test_kind_language():
    person("anna", language="en")
    person("ben", language="de")
    assert members(leaf("language", language="en")) == {"anna@example.org"}


def test_kind_signup_date():
    old, new = person("anna"), person("ben")
    Subscriber.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    last_year = (timezone.localdate() - timedelta(days=200)).isoformat()
    assert members(leaf("signup_date", when="before", date=last_year)) == {"anna@example.org"}
    assert members(leaf("signup_date", when="since", date=last_year)) == {"ben@example.org"}
    assert members(leaf("signup_date", when="within_days", days=30)) == {"ben@example.org"}
    assert new.pk


def test_kind_signup_source():
    form, imported = person("anna"), person("ben")
    ConsentRecord.objects.create(
        subscriber=form, action=ConsentRecord.Action.SIGNUP, source_url="https://shop.example.com/newsletter"
    )
    ConsentRecord.objects.create(subscriber=imported, action=ConsentRecord.Action.IMPORT, basis="Messe")
    assert members(leaf("signup_source", source="form")) == {"anna@example.org"}
    assert members(leaf("signup_source", source="form", url_contains="shop.")) == {"anna@example.org"}
    assert members(leaf("signup_source", source="form", url_contains="blog.")) == set()
    assert members(leaf("signup_source", source="import")) == {"ben@example.org"}


def test_kind_tracking_consent():
    person("anna")
    person("ben", tracking_consent=False)
    assert members(leaf("tracking_consent", consent=True)) == {"anna@example.org"}
    assert members(leaf("tracking_consent", consent=False)) == {"ben@example.org"}


def test_kind_custom_field():
    city = CustomField.objects.create(
        key="city",
        label_de="Stadt",
        label_en="City",
        kind=CustomField.Kind.CHOICE,
        choices=[{"value": v, "label_de": v, "label_en": v} for v in ("berlin", "koeln", "bonn")],
    )
    age = CustomField.objects.create(key="age", label_de="Alter", label_en="Age", kind=CustomField.Kind.NUMBER)
    person("anna", fields={"city": "berlin", "age": 34})
    person("ben", fields={"city": "koeln", "age": 51})
    person("cem")
    assert members(leaf("custom_field", field=city.pk, operator="is", value="berlin")) == {"anna@example.org"}
    assert members(leaf("custom_field", field=city.pk, operator="is_any_of", value="koeln, bonn")) == {
        "ben@example.org"
    }
    assert members(leaf("custom_field", field=age.pk, operator="between", value="30..40")) == {"anna@example.org"}
    assert members(leaf("custom_field", field=age.pk, operator="is_empty")) == {"cem@example.org"}
    assert members(not_(leaf("custom_field", field=age.pk, operator="gt", value="40"))) == {
        "anna@example.org",
        "cem@example.org",
    }


def test_kind_custom_field__wrong_values_and_deleted_fields_are_problems():
    age = CustomField.objects.create(key="age", label_de="Alter", label_en="Age", kind=CustomField.Kind.NUMBER)
    assert segment_problems(leaf("custom_field", field=age.pk, operator="gt", value="forty"))
    assert segment_problems(leaf("custom_field", field=age.pk, operator="has", value="x"))
    assert segment_problems(leaf("custom_field", field=age.pk, operator="between", value="30"))
    rules = leaf("custom_field", field=age.pk, operator="gt", value="40")
    assert segment_problems(rules) == []
    age.delete()
    assert any("broken" in problem for problem in segment_problems(rules))


def test_kind_received_campaign():
    campaign = CampaignFactory()
    DeliveryFactory(campaign=campaign, subscriber=person("anna"))
    DeliveryFactory(campaign=campaign, subscriber=person("ben"), status=Delivery.Status.FAILED)
    assert members(leaf("received_campaign", campaign=campaign.pk)) == {"anna@example.org"}


@pytest.fixture
def opens():
    """anna opened (a person), ben only clicked, cem's only open is a machine's, dora did nothing."""
    campaign = CampaignFactory()
    deliveries = {
        name: DeliveryFactory(campaign=campaign, subscriber=person(name)) for name in ("anna", "ben", "cem", "dora")
    }
    event(deliveries["anna"], Event.Kind.OPEN)
    event(deliveries["ben"], Event.Kind.CLICK)
    event(deliveries["cem"], Event.Kind.OPEN, machine=True)
    event(deliveries["cem"], Event.Kind.CLICK, machine=True)
    return campaign


def test_kind_opened_campaign(opens):
    assert members(leaf("opened_campaign", campaign=opens.pk)) == {"anna@example.org", "ben@example.org"}
    with_machines = members(leaf("opened_campaign", campaign=opens.pk, include_machine=True))
    assert with_machines == {"anna@example.org", "ben@example.org", "cem@example.org"}


def test_kind_not_opened_campaign(opens):
    assert members(leaf("not_opened_campaign", campaign=opens.pk)) == {"cem@example.org", "dora@example.org"}


def test_kind_clicked_campaign(opens):
    assert members(leaf("clicked_campaign", campaign=opens.pk)) == {"ben@example.org"}


def test_kind_not_clicked_campaign(opens):
    expected = {"anna@example.org", "cem@example.org", "dora@example.org"}
    assert members(leaf("not_clicked_campaign", campaign=opens.pk)) == expected
    with_machines = members(leaf("not_clicked_campaign", campaign=opens.pk, include_machine=True))
    assert with_machines == {"anna@example.org", "dora@example.org"}


def test_kind_read_recently():
    campaign = CampaignFactory()
    recent = DeliveryFactory(campaign=campaign, subscriber=person("anna"))
    old = DeliveryFactory(campaign=campaign, subscriber=person("ben"))
    event(recent, Event.Kind.OPEN, ago=timedelta(days=3))
    event(old, Event.Kind.CLICK, ago=timedelta(days=40))
    assert members(leaf("read_recently", action="opened", days=7)) == {"anna@example.org"}
    assert members(leaf("read_recently", action="clicked", days=60)) == {"ben@example.org"}
    assert members(leaf("read_recently", action="clicked", days=7)) == set()


def test_kind_clicked_article():
    campaign = CampaignFactory()
    first, second = ArticleFactory(campaign=campaign), ArticleFactory(campaign=campaign)
    event(DeliveryFactory(campaign=campaign, subscriber=person("anna")), Event.Kind.CLICK, article=first)
    event(DeliveryFactory(campaign=campaign, subscriber=person("ben")), Event.Kind.CLICK, article=second)
    assert members(leaf("clicked_article", article=first.pk)) == {"anna@example.org"}


def test_kind_clicked_link():
    campaign = CampaignFactory()
    article = ArticleFactory(campaign=campaign)
    link = TrackedLink.objects.create(
        campaign=campaign,
        article=article,
        article_public_id=article.public_id,
        position=0,
        kind="button",
        url="https://example.org/angebot",
    )
    event(DeliveryFactory(campaign=campaign, subscriber=person("anna")), Event.Kind.CLICK, link=link)
    event(DeliveryFactory(campaign=campaign, subscriber=person("ben")), Event.Kind.CLICK, link=link, machine=True)
    assert members(leaf("clicked_link", link=link.pk)) == {"anna@example.org"}


def test_kind_engagement_score():
    for name, score in (("anna", 10), ("ben", 50), ("cem", 90)):
        SubscriberEngagement.objects.create(subscriber=person(name), score=score)
    person("dora")
    assert members(leaf("engagement_score", min=40, max=60)) == {"ben@example.org"}
    assert members(leaf("engagement_score", min=40)) == {"ben@example.org", "cem@example.org"}


def test_kind_engagement_score__min_above_max_is_a_form_error():
    with pytest.raises(Exception, match="lowest score"):
        conditions.KINDS["engagement_score"].clean_params({"min": 70, "max": 20})


def test_kind_engagement_group(settings):
    settings.KANAL_ENGAGED_DAYS = 90
    now = timezone.now()
    SubscriberEngagement.objects.create(subscriber=person("anna"), last_interaction_at=now - timedelta(days=3))
    SubscriberEngagement.objects.create(subscriber=person("ben"), last_interaction_at=now - timedelta(days=200))
    SubscriberEngagement.objects.create(subscriber=person("cem"))
    person("dora")
    assert members(leaf("engagement_group", group="engaged")) == {"anna@example.org"}
    assert members(leaf("engagement_group", group="dormant")) == {"ben@example.org"}
    assert members(leaf("engagement_group", group="never")) == {"cem@example.org", "dora@example.org"}
    everyone = {"anna@example.org", "ben@example.org", "cem@example.org", "dora@example.org"}
    for group, expected in (("engaged", {"anna@example.org"}), ("never", {"cem@example.org", "dora@example.org"})):
        assert members({"op": "not", "children": [leaf("engagement_group", group=group)]}) == everyone - expected


def test_kind_soft_bounces():
    campaign, later = CampaignFactory(), CampaignFactory()
    counts = {"anna": 3, "ben": 1}
    for name, times in counts.items():
        subscriber = person(name)
        for index in range(times):
            delivery = DeliveryFactory(campaign=[campaign, later, CampaignFactory()][index], subscriber=subscriber)
            DeliveryReport.objects.create(
                report_key=str(uuid.uuid4()),
                kind=DeliveryReport.Kind.SOFT_BOUNCED,
                campaign=delivery.campaign,
                delivery=delivery,
                occurred_at=timezone.now() - timedelta(days=index * 20),
            )
    person("cem")
    assert members(leaf("soft_bounces", times=2)) == {"anna@example.org"}
    assert members(leaf("soft_bounces", times=1)) == {"anna@example.org", "ben@example.org"}
    assert members(leaf("soft_bounces", times=2, days=10)) == set()
    assert members({"op": "not", "children": [leaf("soft_bounces", times=2)]}) == {"ben@example.org", "cem@example.org"}


def answer(subscriber, question, *, value=None, choices=()):
    response, _created = Response.objects.get_or_create(
        survey=question.survey, subscriber=subscriber, defaults={"source": Response.Source.MAIL}
    )
    found = Answer.objects.create(response=response, question=question, value=value)
    found.choices.set(choices)
    return found


def test_kind_answered_survey():
    question = QuestionFactory(kind=Question.Kind.NPS)
    answer(person("anna"), question, value=9)
    person("ben")
    assert members(leaf("answered_survey", survey=question.survey.pk)) == {"anna@example.org"}


def test_kind_nps_group():
    older = QuestionFactory(kind=Question.Kind.NPS)
    newer = QuestionFactory(kind=Question.Kind.NPS)
    answer(person("anna"), older, value=10)
    answer(person("ben"), newer, value=10)
    answer(person("cem"), newer, value=7)
    answer(person("dora"), newer, value=3)
    assert members(leaf("nps_group", group="promoter", survey=older.survey.pk)) == {"anna@example.org"}
    assert members(leaf("nps_group", group="promoter")) == {"ben@example.org"}  # the newest survey
    assert members(leaf("nps_group", group="passive")) == {"cem@example.org"}
    assert members(leaf("nps_group", group="detractor")) == {"dora@example.org"}


def test_kind_rating():
    question = QuestionFactory(kind=Question.Kind.RATING)
    answer(person("anna"), question, value=2)
    answer(person("ben"), question, value=5)
    assert members(leaf("rating", comparison="lte", value=2)) == {"anna@example.org"}
    assert members(leaf("rating", comparison="gte", value=4, survey=question.survey.pk)) == {"ben@example.org"}


def test_kind_chose_option():
    choice = ChoiceFactory()
    other = ChoiceFactory(question=choice.question)
    answer(person("anna"), choice.question, choices=[choice])
    answer(person("ben"), choice.question, choices=[other])
    assert members(leaf("chose_option", choice=choice.pk)) == {"anna@example.org"}


def test_kind_article_useful():
    article, other = ArticleFactory(), ArticleFactory()
    ArticleFeedback.objects.create(article=article, subscriber=person("anna"), useful=True)
    ArticleFeedback.objects.create(article=article, subscriber=person("ben"), useful=False)
    ArticleFeedback.objects.create(article=other, subscriber=person("cem"), useful=True)
    assert members(leaf("article_useful", article=article.pk, useful=True)) == {"anna@example.org"}
    assert members(leaf("article_useful", article=article.pk, useful=False)) == {"ben@example.org"}
    assert members(leaf("article_useful")) == {"anna@example.org", "cem@example.org"}


def test_kind_nps_group__without_any_nps_survey_nobody_is_a_promoter_and_everyone_tracked_is_not():
    person("anna")
    person("ben", tracking_consent=False)
    assert members(leaf("nps_group", group="promoter")) == set()
    assert members({"op": "not", "children": [leaf("nps_group", group="promoter")]}) == {"anna@example.org"}


def test_kind_redeemed_offer():
    offer, other = OfferFactory(), OfferFactory()
    for name, which in (("anna", offer), ("ben", other)):
        offer_redeem(code=given_code(which, person(name)).coupon.code, source="api")
    shared = OfferFactory(code_source=Offer.CodeSource.SHARED)
    offer_redeem(code=CouponFactory(offer=shared, code="ALLE").code, source="api", subscriber=person("cem"))
    person("dora")
    assert members(leaf("redeemed_offer", offer=offer.pk)) == {"anna@example.org"}
    assert members(leaf("redeemed_offer", offer=shared.pk)) == {"cem@example.org"}


def test_kind_redeemed_offer__a_redemption_is_read_only_with_tracking_consent():
    offer = OfferFactory()
    offer_redeem(code=given_code(offer, person("anna", tracking_consent=False)).coupon.code, source="api")
    person("ben", tracking_consent=False)
    assert members(leaf("redeemed_offer", offer=offer.pk)) == set()
    assert members(not_(leaf("redeemed_offer", offer=offer.pk))) == set(), "unknown both ways, as for clicks"


def test_kind_offer_not_redeemed_within():
    offer, other = OfferFactory(), OfferFactory()
    days = timedelta(days=1)

    def given(name, ago_days, *, redeemed_after_days=None, **fields):
        assignment = given_code(offer, person(name, **fields), ago=ago_days * days)
        if redeemed_after_days is not None:
            Redemption.objects.create(
                offer=offer,
                coupon=assignment.coupon,
                shared=False,
                source="api",
                subscriber=assignment.delivery.subscriber,
                delivery=assignment.delivery,
                redeemed_at=assignment.assigned_at + redeemed_after_days * days,
            )

    given("anna", 10)  # never redeemed
    given("ben", 10, redeemed_after_days=2)  # in time
    given("cem", 10, redeemed_after_days=9)  # too late: did not redeem within 7 days
    given("dora", 3)  # the week is not over yet
    given("emil", 10, tracking_consent=False)  # unknown without consent
    given_code(offer, person("fritz"), ago=10 * days, status=Delivery.Status.FAILED)  # the code never reached him
    given_code(other, person("gina"), ago=10 * days)
    assert members(leaf("offer_not_redeemed_within", offer=offer.pk, days=7)) == {"anna@example.org", "cem@example.org"}
    assert members(leaf("offer_not_redeemed_within", offer=offer.pk, days=2)) == {
        "anna@example.org",
        "cem@example.org",
        "dora@example.org",
    }


def shared(campaign, subscriber, *, network: str = "x", machine_reason: str = "") -> SharingEvent:
    """A share from the links of the subscriber's own mail of the campaign (their delivery's token)."""
    delivery = Delivery.objects.filter(campaign=campaign, subscriber=subscriber).first()
    delivery = delivery or DeliveryFactory(campaign=campaign, subscriber=subscriber)
    return share_record(campaign=campaign, network=network, machine_reason=machine_reason, delivery_id=delivery.pk)


def test_kind_shared_campaign():
    spring, autumn = CampaignFactory(), CampaignFactory()
    for name, campaign in (("anna", spring), ("ben", autumn)):
        shared(campaign, person(name))
    old = shared(spring, person("cem"), network="mail")
    SharingEvent.objects.filter(pk=old.pk).update(occurred_at=timezone.now() - timedelta(days=40))
    person("dora")
    assert members(leaf("shared_campaign", campaign=spring.pk)) == {"anna@example.org", "cem@example.org"}
    assert members(leaf("shared_campaign", campaign=None, days=30)) == {"anna@example.org", "ben@example.org"}
    assert members(leaf("shared_campaign", campaign=spring.pk, days=30)) == {"anna@example.org"}
    assert members(leaf("shared_campaign")) == {"anna@example.org", "ben@example.org", "cem@example.org"}


def test_kind_shared_campaign__forwards_count_and_machines_never():
    campaign = CampaignFactory()
    anna, ben = person("anna"), person("ben")
    SharingEvent.objects.create(
        campaign=campaign, kind=SharingEvent.Kind.FORWARD, recipients=2, delivery=None, subscriber=anna
    )
    for reason in (Event.MachineReason.HEAD, Event.MachineReason.SCANNER_AGENT, Event.MachineReason.NO_USER_AGENT):
        shared(campaign, ben, network="linkedin", machine_reason=reason)
    assert SharingEvent.objects.filter(subscriber=ben).count() == 3, "machine hits are kept, labelled"
    assert members(leaf("shared_campaign", campaign=campaign.pk)) == {"anna@example.org"}
    assert members(leaf("shared_campaign", days=1)) == {"anna@example.org"}


def test_kind_shared_campaign__is_read_only_with_tracking_consent():
    campaign = CampaignFactory()
    anna = person("anna")
    shared(campaign, anna)
    Subscriber.objects.filter(pk=anna.pk).update(tracking_consent=False)
    assert members(leaf("shared_campaign", campaign=campaign.pk)) == set()
    assert members(not_(leaf("shared_campaign", campaign=campaign.pk))) == set(), "unknown both ways, as for clicks"
