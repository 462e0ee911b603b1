"""The demo ``kanal.py up`` seeds, and its removal.

``demo_seed`` makes a few hundred subscribers as double opt-in leaves them, two campaigns that
went out over the last weeks with real deliveries, and what readers and machines did with them:
the opens and clicks go through tracking's own path (event lines as the endpoints queue them,
``events_ingest`` labels machines and anonymises readers without tracking consent,
``events_count`` labels bursts and honeypot neighbours and fills the counters), survey answers and
article feedback through the surveys services. Everything is drawn from one seeded random
generator, so two seeds at the same moment give the same figures.

Demo data is marked so that ``demo_remove`` finds it and nothing else: subscribers carry the tag
``demo`` *and* an address at a reserved example domain (RFC 2606); campaigns carry fixed archive
ids (``demo_id``) and a name starting with "Demo ·"; consent records say "demo data".
"""

import logging
import random
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Article, Campaign, Delivery
from campaigns.services.sending import compiled_campaign
from demo import content
from newsletter_site.bulk import db_value, insert_rows
from subscribers.models import ConsentRecord, ConsentText, MailingList, Subscriber, Subscription, Tag
from surveys.models import ArticleFeedback, Question, Response, Survey
from surveys.services import article_feedback_record, response_answer_record
from tracking import event_queue, tokens
from tracking.models import TrackedLink
from tracking.services.audience import audience_summary_refresh
from tracking.services.engagement import engagement_refresh
from tracking.services.events import count_cutoff, events_count, events_ingest
from tracking.services.links import campaign_links_register

DEMO_TAG = "demo"
DEMO_DOMAINS = ("example.com", "example.org", "example.net")
DEMO_BASIS = "demo data"
# The lists kanal_bootstrap makes; the demo campaigns go to them.
DEMO_LISTS = ("news", "product-updates")
SEED = 20260301
GENERATED_PEOPLE = 300
# Fixed: the archive ids and article ids of the demo campaigns are uuid5 names in it.
NAMESPACE = uuid.UUID("5e0f3c1a-3d0b-4c55-9a55-6b616e616c00")
REMOVED_MARKER = "demo-removed"

# The twenty people every earlier ``up`` created (imported, not double opt-in).
IMPORTED_PEOPLE = [
    ("anna", "Anna", "Schmidt", "de"),
    ("ben", "Ben", "Müller", "de"),
    ("clara", "Clara", "Weber", "de"),
    ("david", "David", "Fischer", "de"),
    ("emma", "Emma", "Wagner", "de"),
    ("felix", "Felix", "Becker", "de"),
    ("greta", "Greta", "Hoffmann", "de"),
    ("hannes", "Hannes", "Schulz", "de"),
    ("ida", "Ida", "Koch", "de"),
    ("jonas", "Jonas", "Richter", "de"),
    ("karla", "Karla", "Klein", "de"),
    ("lukas", "Lukas", "Wolf", "de"),
    ("mia", "Mia", "Neumann", "de"),
    ("noah", "Noah", "Schwarz", "de"),
    ("olivia", "Olivia", "Brown", "en"),
    ("paul", "Paul", "Smith", "en"),
    ("quinn", "Quinn", "Taylor", "en"),
    ("ruby", "Ruby", "Jones", "en"),
    ("sam", "Sam", "Wilson", "en"),
    ("tara", "Tara", "Evans", "en"),
]
IMPORTED_TAGS = ("customer", "event-2026", "vip")

# Where readers open and click. Apple Mail Privacy Protection fetches the pixel through a proxy
# with the bare "Mozilla/5.0" (tracking labels that a proxy open), so its readers show up only
# when they click, in Safari.
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
    "Mobile Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0"
# (share of readers, user agent of their opens or None for Apple's proxy, user agent of their clicks)
MAIL_CLIENTS = [
    (0.32, None, IPHONE_SAFARI),
    (0.27, "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", CHROME_WINDOWS),
    (0.17, "Mozilla/4.0 (compatible; ms-office; MSOffice 16)", CHROME_WINDOWS),
    (
        0.09,
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        IPHONE_SAFARI,
    ),
    (0.09, CHROME_ANDROID, CHROME_ANDROID),
    (0.06, "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.9.0", FIREFOX_LINUX),
]
APPLE_PROXY = "Mozilla/5.0"
SCANNER_AGENTS = [
    "Mozilla/5.0 (compatible; Proofpoint URL Defense)",
    "Mozilla/5.0 (compatible; Barracuda Sentinel)",
    "Mimecast-URL-Protect/2.0",
]
# Share of recipients behind a security gateway that follows every link of the mail.
SCANNED_SHARE = 0.045
# How likely a click lands on the first, second, … article: readers drop off down the mail.
ARTICLE_WEIGHTS = [0.45, 0.27, 0.17, 0.11]
USEFUL_SHARES = [0.86, 0.74, 0.61, 0.9]


def demo_id(name: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, name)


def demo_campaign_ids() -> list[uuid.UUID]:
    return [demo_id(spec["key"]) for spec in content.CAMPAIGNS]


def demo_campaigns():
    return Campaign.objects.filter(archive_id__in=demo_campaign_ids())


def demo_subscribers():
    """Subscribers with the demo tag at a reserved example domain: both, so neither a real reader
    tagged "demo" nor a test address at example.com is ever taken for demo data."""
    at_example = reduce(or_, (Q(email__iendswith=f"@{domain}") for domain in DEMO_DOMAINS))
    return Subscriber.objects.filter(at_example, tags__name=DEMO_TAG).distinct()


def removed_marker() -> Path:
    """A file under var/: once the demo was removed, ``up`` does not seed it again."""
    return Path(settings.VAR_DIR) / REMOVED_MARKER


@dataclass
class DemoOutcome:
    created: bool
    subscribers: int = 0
    campaigns: int = 0
    events: int = 0
    answers: int = 0
    feedback: int = 0


@dataclass
class _Person:
    email: str
    first_name: str
    last_name: str
    language: str
    tracking_consent: bool
    engagement: float  # 0–1: how likely this person reads a mail
    lists: dict[str, tuple[datetime, datetime]]  # list slug → (signed up, confirmed)
    imported: bool = False
    unsubscribed: dict[str, datetime] = field(default_factory=dict)
    pk: int | None = None


@dataclass
class _Planned:
    """One event as an endpoint would have seen it, before its delivery has an id."""

    kind: str
    person: int
    at: datetime
    user_agent: str
    address: str
    link: int = -1  # index into the campaign's links
    head: bool = False


def _ascii(text: str) -> str:
    text = text.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _people(rng: random.Random, now: datetime, lists: dict[str, MailingList]) -> list[_Person]:
    people = []
    year_ago = now - timedelta(days=330)
    for local_part, first_name, last_name, language in IMPORTED_PEOPLE:
        slug = "news" if language == "de" else "product-updates"
        people.append(
            _Person(
                email=f"{local_part}@example.com",
                first_name=first_name,
                last_name=last_name,
                language=language,
                tracking_consent=len(people) % 3 != 0,
                engagement=rng.betavariate(2, 2),
                lists={slug: (year_ago, year_ago)},
                imported=True,
            )
        )
    for number in range(GENERATED_PEOPLE):
        language = "de" if rng.random() < 0.7 else "en"
        if language == "de":
            first_name, last_name = rng.choice(content.FIRST_NAMES_DE), rng.choice(content.LAST_NAMES_DE)
        else:
            first_name, last_name = rng.choice(content.FIRST_NAMES_EN), rng.choice(content.LAST_NAMES_EN)
        domain = DEMO_DOMAINS[number % len(DEMO_DOMAINS)]
        # More sign-ups lately: the list grows.
        signed_up = now - timedelta(days=300 * rng.random() ** 1.6, minutes=rng.randrange(24 * 60))
        confirmed = signed_up + timedelta(seconds=rng.randrange(40, 3 * 3600))
        slugs = ["news"] if language == "de" else ["product-updates"]
        if rng.random() < 0.2:
            slugs = ["news", "product-updates"]
        subscribed = {}
        for index, slug in enumerate(slugs):
            later = timedelta(days=rng.randrange(1, 60)) if index else timedelta()
            subscribed[slug] = (signed_up + later, confirmed + later)
        people.append(
            _Person(
                email=f"{_ascii(first_name)}.{_ascii(last_name)}.{number + 1}@{domain}",
                first_name=first_name,
                last_name=last_name,
                language=language,
                tracking_consent=rng.random() < 0.72,
                engagement=rng.betavariate(1.6, 2.2),
                lists={slug: times for slug, times in subscribed.items() if times[1] < now},
            )
        )
    return people


def _delay(rng: random.Random) -> timedelta:
    """How long after delivery a reader opens: most within hours, some the next days, a long tail."""
    draw = rng.random()
    if draw < 0.55:
        seconds = rng.expovariate(1 / (2.5 * 3600))
    elif draw < 0.88:
        seconds = rng.expovariate(1 / (20 * 3600))
    else:
        seconds = rng.uniform(2, 9) * 86400
    return timedelta(seconds=90 + seconds)


@dataclass
class _Reading:
    """What readers and machines did with one campaign, still by person index."""

    sent_at: dict[int, datetime] = field(default_factory=dict)
    events: list[_Planned] = field(default_factory=list)
    answers: list[tuple[int, int, str, datetime]] = field(default_factory=list)  # person, NPS, text, when
    feedback: list[tuple[int, int, bool, datetime]] = field(default_factory=list)  # person, article, useful, when


def _simulate(
    rng: random.Random,
    *,
    spec: dict,
    people: list[_Person],
    started_at: datetime,
    links: list[tuple[int, str]],
    latest: datetime,
) -> _Reading:
    """``links``: (article index, link kind) per tracked link, in the campaign's order."""
    slug = spec["list"]
    recipients = [
        index
        for index, person in enumerate(people)
        if slug in person.lists
        and person.lists[slug][1] < started_at
        and not (slug in person.unsubscribed and person.unsubscribed[slug] < started_at)
    ]
    reading = _Reading()
    articles = max(article for article, _kind in links) + 1
    weights = ARTICLE_WEIGHTS[:articles]
    by_article: dict[int, list[int]] = {}
    for position, (article, _kind) in enumerate(links):
        by_article.setdefault(article, []).append(position)
    # About 300 mails a minute.
    for order, index in enumerate(recipients):
        sent = started_at + timedelta(seconds=order / 5, milliseconds=rng.randrange(200))
        reading.sent_at[index] = sent
        person = people[index]
        address = f"198.51.100.{rng.randrange(1, 255)}" if order % 2 else f"203.0.113.{rng.randrange(1, 255)}"
        _share, client_open, client_click = _client(rng)
        if client_open is None:
            # Apple's proxy fetches the pixel when the mail arrives, whether it is read or not.
            proxy_at = sent + timedelta(seconds=rng.uniform(20, 900))
            reading.events.append(_Planned("o", index, proxy_at, APPLE_PROXY, f"17.58.{rng.randrange(1, 255)}.1"))
        if rng.random() < SCANNED_SHARE:
            reading.events.extend(_scanner(rng, index=index, sent=sent, links=len(links)))
        if rng.random() > 0.15 + 0.75 * person.engagement:
            continue
        read_at = sent + _delay(rng)
        if read_at > latest:
            continue
        if client_open is not None:
            reading.events.append(_Planned("o", index, read_at, client_open, address))
            if rng.random() < 0.25:
                again = read_at + timedelta(seconds=rng.expovariate(1 / 86400) + 600)
                if again < latest:
                    reading.events.append(_Planned("o", index, again, client_open, address))
        clicked_articles = []
        if rng.random() < 0.22 + 0.35 * person.engagement:
            count = 1 if rng.random() < 0.7 else (2 if rng.random() < 0.85 else 3)
            moment = read_at + timedelta(seconds=rng.uniform(15, 240))
            for article in sorted(set(rng.choices(range(articles), weights=weights, k=count))):
                position = rng.choice(by_article[article])
                if moment < latest:
                    reading.events.append(_Planned("c", index, moment, client_click, address, link=position))
                    clicked_articles.append(article)
                moment += timedelta(seconds=rng.uniform(25, 240))
        if spec["survey"] and rng.random() < 0.3:
            score = rng.choices(range(11), weights=[1, 1, 1, 2, 2, 4, 6, 10, 18, 16, 14])[0]
            text = rng.choice(spec["survey"]["answers"]) if rng.random() < 0.25 else ""
            answered_at = read_at + timedelta(seconds=rng.uniform(20, 200))
            if answered_at < latest:
                reading.answers.append((index, score, text, answered_at))
        if rng.random() < 0.32:
            article = clicked_articles[0] if clicked_articles else rng.randrange(articles)
            useful = rng.random() < USEFUL_SHARES[article % len(USEFUL_SHARES)]
            at = read_at + timedelta(seconds=rng.uniform(30, 400))
            if at < latest:
                reading.feedback.append((index, article, useful, at))
        if rng.random() < 0.03:
            person.unsubscribed[slug] = read_at + timedelta(seconds=rng.uniform(30, 600))
    return reading


def _client(rng: random.Random) -> tuple[float, str | None, str]:
    return rng.choices(MAIL_CLIENTS, weights=[share for share, _open, _click in MAIL_CLIENTS])[0]


def _scanner(rng: random.Random, *, index: int, sent: datetime, links: int) -> list[_Planned]:
    """A security gateway following every link of one mail, the way tracking learns to spot it:
    its own user agent; a browser's seconds after delivery (some with HEAD); a burst of every
    link later on; or the hidden honeypot link with the others around it."""
    address = f"192.0.2.{rng.randrange(1, 255)}"
    style = rng.choice(["agent", "too_soon", "burst", "honeypot"])
    if style == "agent":
        agent, start = rng.choice(SCANNER_AGENTS), sent + timedelta(seconds=rng.uniform(1, 6))
    elif style == "too_soon":
        agent, start = CHROME_WINDOWS, sent + timedelta(seconds=rng.uniform(1, 4))
    else:
        agent, start = CHROME_WINDOWS, sent + timedelta(seconds=rng.uniform(60, 900))
    head = style == "too_soon" and rng.random() < 0.5
    step = 0.05 if style != "honeypot" else 0.4
    events = [
        _Planned("c", index, start + timedelta(seconds=position * step), agent, address, link=position, head=head)
        for position in range(links)
    ]
    if style in ("agent", "honeypot"):
        events.append(_Planned("h", index, start + timedelta(seconds=links * step), agent, address))
    return events


def _insert_people(people: list[_Person], *, now: datetime, lists: dict[str, MailingList]) -> list[int]:
    """Insert the people who are not there yet, with their subscriptions and consent records as
    double opt-in (or, for the imported ones, the import) left them. Returns the new people's indexes."""
    existing = set(
        Subscriber.objects.filter(email__in=[person.email for person in people]).values_list("email", flat=True)
    )
    new = [index for index, person in enumerate(people) if person.email not in existing]
    # Creation time of the imported ones: today, as every earlier ``up`` made them.
    insert_rows(
        Subscriber,
        columns=(
            "public_id",
            "email",
            "first_name",
            "last_name",
            "language",
            "status",
            "tracking_consent",
            "created_at",
        ),
        rows=[
            (
                db_value(Subscriber, "public_id", demo_id(people[index].email)),
                people[index].email,
                people[index].first_name,
                people[index].last_name,
                people[index].language,
                _status(people[index]),
                people[index].tracking_consent,
                db_value(Subscriber, "created_at", min(times[0] for times in people[index].lists.values())),
            )
            for index in new
        ],
        constants={
            "updated_at": now,
            "time_zone": "",
            "token_version": 0,
            "fields": {},
        },
        ignore_conflicts=True,
    )
    pks = dict(Subscriber.objects.filter(email__in=[person.email for person in people]).values_list("email", "pk"))
    for person in people:
        person.pk = pks[person.email]
    tags = {name: Tag.objects.get_or_create(name=name)[0] for name in (DEMO_TAG, *IMPORTED_TAGS)}
    tag_rows = [(person.pk, tags[DEMO_TAG].pk) for person in people]
    tag_rows += [
        (people[index].pk, tags[IMPORTED_TAGS[index % len(IMPORTED_TAGS)]].pk)
        for index in new
        if people[index].imported
    ]
    # Rows of the through table: no m2m_changed signal, so no "tag added" automation starts.
    insert_rows(Subscriber.tags.through, columns=("subscriber", "tag"), rows=tag_rows, ignore_conflicts=True)
    texts = {text.language: text for text in ConsentText.objects.order_by("version")}
    subscriptions, records = [], []
    for index in new:
        person = people[index]
        for slug, (signed_up, confirmed) in person.lists.items():
            mailing_list = lists[slug]
            left = person.unsubscribed.get(slug)
            status = Subscription.Status.UNSUBSCRIBED if left else Subscription.Status.ACTIVE
            subscriptions.append((person.pk, mailing_list.pk, status, signed_up, confirmed, left))
            if person.imported:
                records.append(_record(person, mailing_list, ConsentRecord.Action.IMPORT, signed_up))
            else:
                text = texts.get(person.language) or texts.get(mailing_list.language)
                records.append(_record(person, mailing_list, ConsentRecord.Action.SIGNUP, signed_up, text=text))
                records.append(_record(person, mailing_list, ConsentRecord.Action.CONFIRM, confirmed))
            if left:
                records.append(
                    _record(person, mailing_list, ConsentRecord.Action.UNSUBSCRIBE, left, source="unsubscribe page")
                )
    insert_rows(
        Subscription,
        columns=("subscriber", "mailing_list", "status", "created_at", "confirmed_at", "unsubscribed_at"),
        rows=[
            (
                subscriber,
                mailing_list,
                status,
                *(db_value(Subscription, "created_at", moment) if moment else None for moment in times),
            )
            for subscriber, mailing_list, status, *times in subscriptions
        ],
        constants={"confirmation_nonce": ""},
        ignore_conflicts=True,
    )
    insert_rows(
        ConsentRecord,
        columns=(
            "subscriber",
            "mailing_list",
            "action",
            "occurred_at",
            "ip_address",
            "user_agent",
            "source_url",
            "consent_text",
            "consent_text_shown",
            "details",
        ),
        rows=records,
        constants={"basis": DEMO_BASIS},
    )
    return new


def _status(person: _Person) -> str:
    if person.lists and all(slug in person.unsubscribed for slug in person.lists):
        return Subscriber.Status.UNSUBSCRIBED
    return Subscriber.Status.ACTIVE


def _record(
    person: _Person,
    mailing_list: MailingList,
    action: str,
    moment: datetime,
    *,
    text: ConsentText | None = None,
    source: str = "",
) -> tuple:
    digits = sum(map(ord, person.email))
    address = "" if action == ConsentRecord.Action.IMPORT else f"198.51.100.{digits % 254 + 1}"
    source_url = ""
    if action == ConsentRecord.Action.SIGNUP:
        source_url = settings.SITE_URL + reverse("subscribers:subscribe", args=[mailing_list.slug])
    return (
        person.pk,
        mailing_list.pk,
        action,
        db_value(ConsentRecord, "occurred_at", moment),
        address or None,
        "" if action == ConsentRecord.Action.IMPORT else FIREFOX_LINUX,
        source_url,
        text.pk if text else None,
        text.text if text else "",
        db_value(ConsentRecord, "details", {"demo": True, **({"source": source} if source else {})}),
    )


def _campaign_create(spec: dict, *, started_at: datetime, lists: dict[str, MailingList]) -> Campaign:
    campaign = Campaign.objects.create(
        name=spec["name"],
        subject=spec["subject"],
        preheader=spec["preheader"],
        language=spec["language"],
        status=Campaign.Status.SENT,
        archive_enabled=True,
        article_feedback_enabled=True,
        started_at=started_at,
        finished_at=started_at + timedelta(minutes=3),
        archive_id=demo_id(spec["key"]),
    )
    campaign.mailing_lists.set([lists[spec["list"]]])
    for position, (headline, body, link_url, cta_text) in enumerate(spec["articles"]):
        Article.objects.create(
            campaign=campaign,
            position=position,
            public_id=demo_id(f"{spec['key']}-article-{position}"),
            headline=headline,
            body=body,
            link_url=link_url,
            cta_text=cta_text,
        )
    if spec["survey"]:
        survey = Survey.objects.create(
            title=spec["survey"]["title"], slug=spec["survey"]["slug"], campaign=campaign, is_public=False
        )
        Question.objects.create(survey=survey, position=0, kind=Question.Kind.NPS, text=spec["survey"]["nps"])
        Question.objects.create(
            survey=survey, position=1, kind=Question.Kind.FREE_TEXT, text=spec["survey"]["free_text"]
        )
    # Written as it was then: the campaign was made a day before it went out.
    Campaign.objects.filter(pk=campaign.pk).update(
        created_at=started_at - timedelta(days=1), updated_at=started_at - timedelta(hours=1)
    )
    campaign.refresh_from_db()
    return campaign


def _tracked_links(campaign: Campaign) -> list[tuple[int, int, str]]:
    """(link id, article index, kind) of the campaign's links, registered as the sender does."""
    compiled, _skeleton = compiled_campaign(campaign)
    # The copy of link targets in Redis is best effort; ``up`` seeds before its Redis runs.
    queue_logger = logging.getLogger(event_queue.__name__)
    level = queue_logger.level
    queue_logger.setLevel(logging.ERROR)
    try:
        ids = campaign_links_register(campaign=campaign, compiled=compiled)
    finally:
        queue_logger.setLevel(level)
    positions = {article.pk: position for position, article in enumerate(campaign.articles.all())}
    rows = dict(
        (pk, (article_id, kind))
        for pk, article_id, kind in TrackedLink.objects.filter(pk__in=ids).values_list("pk", "article_id", "kind")
    )
    return [(pk, positions[rows[pk][0]], rows[pk][1]) for pk in ids]


def _deliveries_insert(campaign: Campaign, reading: _Reading, people: list[_Person]) -> dict[int, int]:
    """Sent deliveries; returns person index → delivery id."""
    insert_rows(
        Delivery,
        columns=("subscriber", "sent_at"),
        rows=[
            (people[index].pk, db_value(Delivery, "sent_at", sent)) for index, sent in sorted(reading.sent_at.items())
        ],
        constants={
            "campaign": campaign.pk,
            "occurrence": 0,
            "status": Delivery.Status.SENT,
            "claim": "",
            "attempts": 1,
            "esp_message_id": "",
            "error": "",
        },
    )
    by_subscriber = dict(Delivery.objects.filter(campaign=campaign).values_list("subscriber_id", "pk"))
    return {index: by_subscriber[people[index].pk] for index in reading.sent_at}


def _event_lines(campaign: Campaign, reading: _Reading, deliveries: dict[int, int], links: list) -> list[str]:
    kinds = {"o": event_queue.OPEN, "c": event_queue.CLICK, "h": event_queue.HONEYPOT}
    lines = []
    for planned in reading.events:
        lines.append(
            event_queue.event_line(
                kind=kinds[planned.kind],
                delivery_id=deliveries[planned.person],
                campaign_id=0,
                link_id=links[planned.link][0] if planned.kind == "c" else 0,
                head=planned.head,
                ip_hash=tokens.ip_hash(planned.address),
                user_agent=planned.user_agent,
                occurred_ms=int(planned.at.timestamp() * 1000),
            )
        )
    return lines


def _answers_record(campaign: Campaign, reading: _Reading, deliveries: dict[int, int], people) -> tuple[int, int]:
    """Survey answers and article feedback through the surveys services, dated when they were given."""
    subscribers = {person.pk: person for person in people}
    loaded = Subscriber.objects.in_bulk(list(subscribers))
    answers = 0
    survey = Survey.objects.filter(campaign=campaign).first()
    if survey is not None:
        nps, free_text = list(survey.questions.order_by("position"))
        for index, score, text, at in reading.answers:
            subscriber = loaded[people[index].pk]
            response = response_answer_record(
                question=nps,
                raw=score,
                subscriber=subscriber,
                source=Response.Source.MAIL,
                delivery_id=deliveries[index],
            )
            if text:
                response_answer_record(
                    question=free_text,
                    raw=text,
                    subscriber=subscriber,
                    source=Response.Source.MAIL,
                    delivery_id=deliveries[index],
                )
            Response.objects.filter(pk=response.pk).update(created_at=at, updated_at=at)
            answers += 1
    articles = list(campaign.articles.order_by("position", "pk"))
    for index, article, useful, at in reading.feedback:
        feedback = article_feedback_record(
            article=articles[article], useful=useful, subscriber=loaded[people[index].pk], delivery_id=deliveries[index]
        )
        ArticleFeedback.objects.filter(pk=feedback.pk).update(created_at=at, updated_at=at)
    return answers, len(reading.feedback)


def demo_seed(*, lists: dict[str, MailingList], now: datetime | None = None) -> DemoOutcome:
    """Seed the demo once; a second call finds the demo campaigns and changes nothing."""
    now = now or timezone.now()
    if demo_campaigns().exists():
        return DemoOutcome(created=False)
    rng = random.Random(SEED)
    people = _people(rng, now, lists)
    # Nothing counted may be newer than what the batcher itself would count now.
    latest = count_cutoff(now=now) - timedelta(minutes=5)
    planned = []
    for spec in content.CAMPAIGNS:
        started_at = (now - timedelta(days=spec["days_ago"])).replace(hour=8, minute=30, second=0, microsecond=0)
        planned.append((spec, started_at))
    outcome = DemoOutcome(created=True)
    with transaction.atomic():
        campaigns = [_campaign_create(spec, started_at=started_at, lists=lists) for spec, started_at in planned]
        links = [_tracked_links(campaign) for campaign in campaigns]
        readings = [
            _simulate(
                rng,
                spec=spec,
                people=people,
                started_at=started_at,
                links=[(article, kind) for _pk, article, kind in campaign_links],
                latest=latest,
            )
            for (spec, started_at), campaign_links in zip(planned, links, strict=True)
        ]
        _insert_people(people, now=now, lists=lists)
        lines = []
        all_deliveries = []
        for campaign, reading, campaign_links in zip(campaigns, readings, links, strict=True):
            deliveries = _deliveries_insert(campaign, reading, people)
            all_deliveries.append(deliveries)
            lines += _event_lines(campaign, reading, deliveries, campaign_links)
        outcome.events = events_ingest(lines=lines)
        while events_count(cutoff=latest + timedelta(minutes=1), limit=settings.KANAL_TRACKING_BATCH_SIZE):
            pass
        engagement_refresh(now=now)
        # The audience page shows the figures the hourly task keeps: keep them with the demo in them.
        audience_summary_refresh(now=now)
        for campaign, reading, deliveries in zip(campaigns, readings, all_deliveries, strict=True):
            answers, feedback = _answers_record(campaign, reading, deliveries, people)
            outcome.answers += answers
            outcome.feedback += feedback
    outcome.subscribers = len(people)
    outcome.campaigns = len(campaigns)
    return outcome


@dataclass(frozen=True)
class RemoveOutcome:
    subscribers: int
    campaigns: int


def demo_remove() -> RemoveOutcome:
    """Delete the demo campaigns (their articles, deliveries, links, events, counters, surveys and
    answers go with them) and the demo subscribers (their subscriptions, consent records and
    scores), then the demo tag if nobody else carries it. Leaves a marker so ``up`` does not seed again."""
    with transaction.atomic():
        campaigns = demo_campaigns()
        campaign_count = campaigns.count()
        Survey.objects.filter(campaign__in=campaigns).delete()
        campaigns.delete()
        subscribers = Subscriber.objects.filter(pk__in=list(demo_subscribers().values_list("pk", flat=True)))
        subscriber_count = subscribers.count()
        subscribers.delete()
        Tag.objects.filter(name=DEMO_TAG, subscribers__isnull=True).delete()
        audience_summary_refresh()
    marker = removed_marker()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("The demo data was removed; `manage.py kanal_demo_seed` brings it back.\n")
    return RemoveOutcome(subscribers=subscriber_count, campaigns=campaign_count)


def demo_was_removed() -> bool:
    return removed_marker().exists()


def demo_forget_removal() -> None:
    removed_marker().unlink(missing_ok=True)
