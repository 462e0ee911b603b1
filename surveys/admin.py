from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from surveys.models import ArticleFeedback, Choice, Question, Survey


class QuestionInline(admin.TabularInline):
    """Questions in order on the survey page; choices are added on each choice question's own page."""

    model = Question
    extra = 1
    fields = ["position", "kind", "text", "required", "choice_count"]
    readonly_fields = ["choice_count"]
    show_change_link = True
    ordering = ["position", "pk"]

    @admin.display(description=_("choices"))
    def choice_count(self, question):
        if not question.pk or not question.is_choice:
            return "–"
        count = question.choices.count()
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:surveys_question_change", args=[question.pk]),
            _("%(count)s choices – edit") % {"count": count},
        )


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["title", "campaign", "is_public", "response_count", "results_link", "created_at"]
    list_filter = ["is_public"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    readonly_fields = ["public_link", "results_link"]
    fields = ["title", "slug", "is_public", "public_link", "campaign", "intro", "thank_you_text", "results_link"]
    inlines = [QuestionInline]

    @admin.display(description=_("responses"))
    def response_count(self, survey):
        return survey.responses.count()

    @admin.display(description=_("results"))
    def results_link(self, survey):
        if not survey.pk:
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("surveys:results", args=[survey.pk]), _("Show results"))

    @admin.display(description=_("public link"))
    def public_link(self, survey):
        if not survey.pk or not survey.is_public:
            return "–"
        url = reverse("surveys:answer", kwargs={"slug": survey.slug})
        return format_html('<a href="{}">{}</a>', url, url)


class ChoiceInline(admin.TabularInline):
    model = Choice
    extra = 3
    fields = ["position", "text"]


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["text", "survey", "kind", "position", "required"]
    list_filter = ["kind"]
    search_fields = ["text", "survey__title"]
    fields = ["survey", "position", "kind", "text", "required"]
    inlines = [ChoiceInline]

    def get_model_perms(self, request):
        # Reached from the survey page; a separate entry in the admin index would only confuse.
        return {}


@admin.register(ArticleFeedback)
class ArticleFeedbackAdmin(admin.ModelAdmin):
    list_display = ["article", "useful", "created_at"]
    list_filter = ["useful"]
    readonly_fields = ["article", "subscriber", "delivery_id", "useful", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False
