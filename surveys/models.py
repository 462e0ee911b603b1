"""Surveys with ordered questions, their responses and answers, and per-article feedback."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models import Article, Campaign
from subscribers.models import Subscriber

FREE_TEXT_MAX_LENGTH = 5_000


class Survey(models.Model):
    title = models.CharField(_("title"), max_length=200)
    intro = models.TextField(_("introduction"), blank=True)
    thank_you_text = models.TextField(_("thank-you text"), blank=True)
    slug = models.SlugField(
        _("public slug"), max_length=100, unique=True, help_text=_("The public link is /survey/<slug>/.")
    )
    is_public = models.BooleanField(
        _("public link active"), default=False, help_text=_("Anyone with the link may answer.")
    )
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="surveys",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["-created_at"]
        constraints = [
            # The campaign's mail shows its survey's first question: one survey per campaign.
            models.UniqueConstraint(
                fields=["campaign"],
                condition=models.Q(campaign__isnull=False),
                name="one_survey_per_campaign",
                violation_error_message=_("This campaign already has a survey."),
            )
        ]

    def __str__(self):
        return self.title


class Question(models.Model):
    class Kind(models.TextChoices):
        NPS = "nps", _("recommendation score (0–10)")
        RATING = "rating", _("rating (1–5 stars)")
        SINGLE_CHOICE = "single_choice", _("single choice")
        MULTIPLE_CHOICE = "multiple_choice", _("multiple choice")
        FREE_TEXT = "free_text", _("free text")

    CHOICE_KINDS = (Kind.SINGLE_CHOICE, Kind.MULTIPLE_CHOICE)
    # Inclusive score ranges per kind that answers with a number.
    SCORE_RANGES = {Kind.NPS: (0, 10), Kind.RATING: (1, 5)}

    survey = models.ForeignKey(Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField(_("position"), default=0)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    text = models.CharField(_("question"), max_length=500)
    required = models.BooleanField(_("required"), default=False)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["position", "pk"]

    def __str__(self):
        return self.text

    @property
    def is_choice(self) -> bool:
        return self.kind in self.CHOICE_KINDS

    @property
    def score_range(self) -> tuple[int, int] | None:
        return self.SCORE_RANGES.get(self.kind)


class Choice(models.Model):
    question = models.ForeignKey(Question, verbose_name=_("question"), on_delete=models.CASCADE, related_name="choices")
    position = models.PositiveIntegerField(_("position"), default=0)
    text = models.CharField(_("text"), max_length=300)

    class Meta:
        verbose_name = _("choice")
        verbose_name_plural = _("choices")
        ordering = ["position", "pk"]

    def __str__(self):
        return self.text


class Response(models.Model):
    """One person's answers to one survey; answering again replaces its answers."""

    class Source(models.TextChoices):
        MAIL = "mail", _("mail")
        PUBLIC = "public", _("public link")
        ARTICLE_FEEDBACK = "article_feedback", _("article feedback")

    survey = models.ForeignKey(Survey, verbose_name=_("survey"), on_delete=models.CASCADE, related_name="responses")
    subscriber = models.ForeignKey(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="survey_responses",
    )
    # The value of a signed cookie: lets an anonymous visitor of the public link edit their answers.
    respondent_key = models.UUIDField(_("respondent key"), null=True, blank=True, editable=False)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    # Filled once in-mail answers are signed per delivery; not a FK so deliveries can be pruned freely.
    delivery_id = models.BigIntegerField(_("delivery id"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("response")
        verbose_name_plural = _("responses")
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "subscriber"],
                condition=models.Q(subscriber__isnull=False),
                name="one_response_per_subscriber_and_survey",
            ),
            models.UniqueConstraint(
                fields=["survey", "respondent_key"],
                condition=models.Q(respondent_key__isnull=False),
                name="one_response_per_respondent_and_survey",
            ),
        ]

    def __str__(self):
        return f"{self.survey_id}/{self.pk}"


class Answer(models.Model):
    response = models.ForeignKey(Response, verbose_name=_("response"), on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, verbose_name=_("question"), on_delete=models.CASCADE, related_name="answers")
    value = models.SmallIntegerField(
        _("score"), null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(10)]
    )
    choices = models.ManyToManyField(Choice, verbose_name=_("choices"), related_name="answers", blank=True)
    text = models.TextField(_("text"), blank=True, max_length=FREE_TEXT_MAX_LENGTH)

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="one_answer_per_question"),
            # The widest range any kind allows; the per-kind range (rating 1–5) needs the question's kind,
            # which a row constraint cannot see, so the service checks that.
            models.CheckConstraint(
                condition=models.Q(value__isnull=True) | models.Q(value__gte=0, value__lte=10),
                name="answer_score_between_0_and_10",
            ),
        ]

    def __str__(self):
        return f"{self.response_id}/{self.question_id}"


class ArticleFeedback(models.Model):
    """'Was this useful?' under one article; one per subscriber and article, answering again edits it."""

    article = models.ForeignKey(Article, verbose_name=_("article"), on_delete=models.CASCADE, related_name="feedback")
    subscriber = models.ForeignKey(
        Subscriber,
        verbose_name=_("subscriber"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="article_feedback",
    )
    delivery_id = models.BigIntegerField(_("delivery id"), null=True, blank=True)
    useful = models.BooleanField(_("useful"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("article feedback")
        verbose_name_plural = _("article feedback")
        constraints = [
            models.UniqueConstraint(
                fields=["article", "subscriber"],
                condition=models.Q(subscriber__isnull=False),
                name="one_feedback_per_subscriber_and_article",
            )
        ]

    def __str__(self):
        return f"{self.article_id}: {self.useful}"
