"""Reads for surveys: results, distributions, NPS, free-text search, export rows."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Avg, Count, Q, QuerySet

from campaigns.models import Article
from surveys.models import Answer, ArticleFeedback, Question, Response, Survey


def campaign_sent_count(campaign) -> int:
    from campaigns.models import Delivery

    return campaign.deliveries.filter(status=Delivery.Status.SENT).count()


# Delivered messages of a campaign, the base of the response rate (tests swap it).
DELIVERED_COUNT: Callable[[object], int | None] | None = campaign_sent_count


@dataclass
class QuestionResult:
    question: Question
    answered: int = 0
    labels: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    average: float | None = None
    nps: dict | None = None
    texts: list[Answer] = field(default_factory=list)

    @property
    def rows(self) -> list[tuple[str, int]]:
        return list(zip(self.labels, self.counts, strict=True))


def nps_from_scores(counts: dict[int, int]) -> dict:
    """Promoters (9–10), passives (7–8), detractors (0–6) and the score: % promoters − % detractors, rounded."""
    total = sum(counts.values())
    promoters = sum(n for score, n in counts.items() if score >= 9)
    detractors = sum(n for score, n in counts.items() if score <= 6)
    passives = total - promoters - detractors
    score = round((promoters - detractors) * 100 / total) if total else None
    return {"promoters": promoters, "passives": passives, "detractors": detractors, "total": total, "score": score}


def campaign_mail_survey(*, campaign_id: int | None) -> Survey | None:
    """The survey whose first question a campaign's mail shows (a campaign has at most one)."""
    if campaign_id is None:
        return None
    return Survey.objects.filter(campaign_id=campaign_id).order_by("created_at", "pk").first()


def response_of(*, survey: Survey, subscriber) -> Response | None:
    return Response.objects.filter(survey=survey, subscriber=subscriber).first() if subscriber else None


def answer_matches(*, response: Response | None, question: Question, value: int) -> bool:
    """Whether ``response`` already holds exactly this one-click answer (a score or one choice id)."""
    if response is None:
        return False
    answer = response.answers.filter(question=question).prefetch_related("choices").first()
    if answer is None:
        return False
    if question.score_range:
        return answer.value == value
    return [choice.pk for choice in answer.choices.all()] == [value]


def answer_label(*, question: Question, value: int) -> str | None:
    """How a one-click answer reads on the page ("9", "4 ★", a choice's text), or None when the
    question does not take it (a score out of range, a choice of another question or deleted)."""
    if question.score_range:
        low, high = question.score_range
        if not low <= value <= high:
            return None
        return f"{value} ★" if question.kind == Question.Kind.RATING else str(value)
    if question.kind == Question.Kind.SINGLE_CHOICE:
        return question.choices.filter(pk=value).values_list("text", flat=True).first()
    return None


def article_feedback_of(*, article, subscriber) -> ArticleFeedback | None:
    return ArticleFeedback.objects.filter(article=article, subscriber=subscriber).first() if subscriber else None


@dataclass(frozen=True)
class ArticleFeedbackFigures:
    article_id: int
    headline: str
    useful: int
    not_useful: int

    @property
    def total(self) -> int:
        return self.useful + self.not_useful

    @property
    def useful_percent(self) -> int | None:
        return round(self.useful * 100 / self.total) if self.total else None


def campaign_article_feedback(*, campaign) -> list[ArticleFeedbackFigures]:
    """Every article of the campaign in layout order with its "useful" and "not useful" answers."""
    counts = {
        row["article"]: row
        for row in ArticleFeedback.objects.filter(article__campaign=campaign)
        .values("article")
        .annotate(yes=Count("pk", filter=Q(useful=True)), no=Count("pk", filter=Q(useful=False)))
    }
    return [
        ArticleFeedbackFigures(
            article_id=article.pk,
            headline=article.headline,
            useful=counts.get(article.pk, {}).get("yes", 0),
            not_useful=counts.get(article.pk, {}).get("no", 0),
        )
        for article in Article.objects.filter(campaign=campaign).order_by("position", "pk")
    ]


def survey_delivered_count(*, survey: Survey) -> int | None:
    if survey.campaign_id is None or DELIVERED_COUNT is None:
        return None
    return DELIVERED_COUNT(survey.campaign)


def survey_results(*, survey: Survey, text_query: str = "") -> dict:
    response_count = survey.responses.count()
    delivered = survey_delivered_count(survey=survey)
    results = []
    for question in survey.questions.prefetch_related("choices"):
        answers = Answer.objects.filter(question=question)
        result = QuestionResult(question=question)
        if question.score_range:
            low, high = question.score_range
            by_value = dict(answers.values_list("value").annotate(n=Count("pk")).values_list("value", "n"))
            result.labels = [str(value) for value in range(low, high + 1)]
            result.counts = [by_value.get(value, 0) for value in range(low, high + 1)]
            result.answered = sum(result.counts)
            average = answers.aggregate(avg=Avg("value"))["avg"]
            result.average = round(average, 1) if average is not None else None
            if question.kind == Question.Kind.NPS:
                result.nps = nps_from_scores(by_value)
        elif question.is_choice:
            choices = question.choices.annotate(n=Count("answers", filter=Q(answers__question=question)))
            result.labels = [choice.text for choice in choices]
            result.counts = [choice.n for choice in choices]
            result.answered = answers.count()
        else:
            texts = answers.exclude(text="")
            result.answered = texts.count()
            if text_query:
                texts = texts.filter(text__icontains=text_query)
            result.texts = list(texts.order_by("-response__updated_at")[:500])
        results.append(result)
    return {
        "response_count": response_count,
        "delivered_count": delivered,
        "response_rate": round(response_count * 100 / delivered, 1) if delivered else None,
        "questions": results,
    }


def survey_campaign_comparison() -> list[dict]:
    """Surveys attached to campaigns side by side: responses, NPS and average rating of each."""
    rows = []
    surveys = (
        Survey.objects.filter(campaign__isnull=False)
        .select_related("campaign")
        .annotate(response_count=Count("responses"))
    )
    for survey in surveys.order_by("-campaign__created_at", "pk"):
        scores = dict(
            Answer.objects.filter(question__survey=survey, question__kind=Question.Kind.NPS)
            .values_list("value")
            .annotate(n=Count("pk"))
            .values_list("value", "n")
        )
        rating = Answer.objects.filter(question__survey=survey, question__kind=Question.Kind.RATING).aggregate(
            avg=Avg("value")
        )["avg"]
        rows.append(
            {
                "survey": survey,
                "campaign": survey.campaign,
                "response_count": survey.response_count,
                "nps": nps_from_scores(scores)["score"],
                "average_rating": round(rating, 1) if rating is not None else None,
            }
        )
    return rows


def survey_export_rows(*, survey: Survey):
    """Header row, then one row per response; choices joined with ' | '."""
    questions = list(survey.questions.all())
    yield ["response_id", "created_at", "updated_at", "source", "subscriber_email", *[q.text for q in questions]]
    responses: QuerySet[Response] = survey.responses.select_related("subscriber").prefetch_related("answers__choices")
    for response in responses.order_by("pk").iterator(chunk_size=1000):
        by_question = {answer.question_id: answer for answer in response.answers.all()}
        cells = []
        for question in questions:
            answer = by_question.get(question.pk)
            if answer is None:
                cells.append("")
            elif question.score_range:
                cells.append(answer.value)
            elif question.is_choice:
                cells.append(" | ".join(choice.text for choice in answer.choices.all()))
            else:
                cells.append(answer.text)
        yield [
            response.pk,
            response.created_at,
            response.updated_at,
            response.source,
            response.subscriber.email if response.subscriber else "",
            *cells,
        ]


def answer_data(answer: Answer) -> dict:
    """One answer as JSON: its question's text and a value (scores), choices or text by its kind.

    Needs ``answer.question`` and ``answer.choices`` fetched (``prefetch_related``).
    """
    item = {"question": answer.question.text}
    if answer.question.score_range:
        item["value"] = answer.value
    elif answer.question.is_choice:
        item["choices"] = [choice.text for choice in answer.choices.all()]
    else:
        item["text"] = answer.text
    return item


def subscriber_surveys_export(subscriber) -> tuple[str, object]:
    """GDPR export section: the subscriber's survey answers and article feedback."""
    responses = []
    for response in (
        Response.objects.filter(subscriber=subscriber)
        .select_related("survey")
        .prefetch_related("answers__question", "answers__choices")
        .order_by("pk")
    ):
        answers = [answer_data(answer) for answer in response.answers.all()]
        responses.append(
            {
                "survey": response.survey.title,
                "source": response.source,
                "created_at": response.created_at.isoformat(),
                "updated_at": response.updated_at.isoformat(),
                "answers": answers,
            }
        )
    feedback = [
        {"article": item.article.headline, "useful": item.useful, "created_at": item.created_at.isoformat()}
        for item in ArticleFeedback.objects.filter(subscriber=subscriber).select_related("article").order_by("pk")
    ]
    return "surveys", {"responses": responses, "article_feedback": feedback}


def campaign_survey_counts(*, campaign) -> list[tuple[Survey, int]]:
    """Surveys attached to a campaign with their number of responses, for the campaign's analytics page."""
    surveys = Survey.objects.filter(campaign=campaign).annotate(response_count=Count("responses")).order_by("pk")
    return [(survey, survey.response_count) for survey in surveys]
