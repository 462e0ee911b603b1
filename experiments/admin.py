from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from experiments import selectors, services
from experiments.models import ABTest, Variant
from newsletter_site import permissions
from newsletter_site.csv_export import csv_response

VIEW = ("experiments.view_abtest",)
START = ("experiments.change_abtest", "campaigns.change_campaign")
OPENS_WARNING = _(
    "Opens are a poor winner metric: Apple's mail privacy proxy and security scanners open mails nobody "
    "read. Kanal counts only opens it judges human, but some machine opens still look human. Prefer clicks."
)


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 2
    max_num = 4
    fields = ["letter", "subject", "preheader", "from_name", "content_from", "campaign"]
    readonly_fields = ["campaign"]
    raw_id_fields = ["content_from"]

    def _started(self, obj) -> bool:
        return obj is not None and obj.status != ABTest.Status.DRAFT

    def has_add_permission(self, request, obj=None):
        return not self._started(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._started(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._started(obj) and super().has_delete_permission(request, obj)


@admin.register(ABTest)
class ABTestAdmin(admin.ModelAdmin):
    list_display = ["campaign", "status", "metric", "test_share", "decided_variant", "results_link"]
    list_filter = ["status", "metric"]
    list_select_related = ["campaign", "decided_variant"]
    search_fields = ["campaign__name"]
    inlines = [VariantInline]
    readonly_fields = [
        "status",
        "started_at",
        "looks_taken",
        "decided_variant",
        "decided_at",
        "decided_by_fallback",
        "winner_sent_at",
        "results_link",
    ]
    SETTINGS = ["campaign", "test_share", "metric", "minimum_sample", "threshold", "duration", "fallback"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != ABTest.Status.DRAFT:
            return [*self.SETTINGS, *self.readonly_fields]
        return self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "campaign":
            kwargs["queryset"] = Campaign.objects.filter(
                status=Campaign.Status.DRAFT, kind=Campaign.Kind.NEWSLETTER, is_template=False
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("results"))
    def results_link(self, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:experiments_abtest_results", args=[obj.pk]), _("Results")
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        ab_test = self.get_object(request, object_id)
        if ab_test is not None and ab_test.metric == ABTest.Metric.OPENS:
            messages.warning(request, OPENS_WARNING)
        extra_context = {**(extra_context or {}), "ab_test": ab_test}
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if obj.metric == ABTest.Metric.OPENS:
            messages.warning(request, OPENS_WARNING)

    def get_urls(self):
        return [
            permissions.admin_path(
                self, "<int:pk>/results/", self.results_view, *VIEW, name="experiments_abtest_results"
            ),
            permissions.admin_path(
                self, "<int:pk>/results.csv", self.results_csv_view, *VIEW, name="experiments_abtest_results_csv"
            ),
            permissions.admin_path(self, "<int:pk>/start/", self.start_view, *START, name="experiments_abtest_start"),
            *super().get_urls(),
        ]

    def results_view(self, request, pk):
        ab_test = get_object_or_404(ABTest.objects.select_related("campaign", "decided_variant"), pk=pk)
        results = selectors.ab_test_results(ab_test=ab_test)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Results of the A/B test of %(name)s") % {"name": ab_test.campaign.name},
            "ab_test": ab_test,
            "results": results,
            "opens_warning": OPENS_WARNING if ab_test.metric == ABTest.Metric.OPENS else "",
            "may_start": ab_test.status == ABTest.Status.DRAFT
            and permissions.has_staff_permissions(request.user, *START),
        }
        return TemplateResponse(request, "admin/experiments/results.html", context)

    def results_csv_view(self, request, pk):
        ab_test = get_object_or_404(ABTest.objects.select_related("campaign", "decided_variant"), pk=pk)
        results = selectors.ab_test_results(ab_test=ab_test)
        return csv_response(
            selectors.ab_test_results_csv_rows(results=results),
            filename=f"ab-test-{ab_test.pk}-{ab_test.campaign.name}.csv",
        )

    def start_view(self, request, pk):
        ab_test = get_object_or_404(ABTest, pk=pk)
        back = redirect("admin:experiments_abtest_results", ab_test.pk)
        if request.method != "POST":
            return back
        try:
            services.ab_test_start(ab_test=ab_test, warnings_confirmed=request.POST.get("confirm") == "1")
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("The A/B test started: the variants are being sent to their test groups."))
        return back
