from django import forms as django_forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from newsletter_site import permissions
from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from offers import forms, selectors, tokens
from offers.models import CampaignOffer, Coupon, Offer, Redemption
from offers.services import assignment, pools
from offers.services.redemption import RedemptionError, offer_redeem
from offers.services.redemption_upload import redemptions_upload
from subscribers.import_files import ImportFileError

FILL_POOL = ("offers.change_offer", "offers.add_coupon")
REDEEM = ("offers.view_coupon", "offers.add_redemption")


def _page(model_admin, request, template, status=200, **context):
    context = {**model_admin.admin_site.each_context(request), "opts": model_admin.model._meta, **context}
    return TemplateResponse(request, template, context, status=status)


def _form_page(model_admin, request, form, **context):
    """The offers' one form page (generate, upload, shared code, redemptions); 400 with its errors."""
    return _page(
        model_admin, request, "admin/offers/form.html", status=400 if form.errors else 200, form=form, **context
    )


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    list_display = ["name", "expires_at", "code_source", "codes_left", "redeemed"]
    list_filter = ["code_source"]
    search_fields = ["name"]
    autocomplete_fields = ["successor"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["pool", "public_link"]

    def get_readonly_fields(self, request, obj=None):
        # Codes may be in mails already: a pool does not turn into a shared code or back.
        locked = ["code_source"] if obj is not None and obj.coupons.exists() else []
        return [*self.readonly_fields, *locked]

    @admin.display(description=_("codes left"))
    def codes_left(self, obj):
        left = selectors.codes_left(offer=obj)
        return _("shared code") if left is None else left

    @admin.display(description=_("redeemed"))
    def redeemed(self, obj):
        return obj.redemptions.count()

    @admin.display(description=_("codes"))
    def pool(self, obj):
        if obj.pk is None:
            return _("Save the offer first; then add codes here.")
        figures = selectors.offer_figures(offer=obj)
        links = [
            (reverse("admin:offers_offer_generate", args=[obj.pk]), _("Generate codes")),
            (reverse("admin:offers_offer_upload", args=[obj.pk]), _("Upload codes")),
        ]
        if obj.code_source == Offer.CodeSource.SHARED or figures["codes"] == 0:
            links.append((reverse("admin:offers_offer_shared", args=[obj.pk]), _("Set a shared code")))
        summary = _("codes: %(codes)s, left: %(left)s, redeemed: %(redeemed)s") % {
            "codes": figures["codes"],
            "left": "∞" if figures["left"] is None else figures["left"],
            "redeemed": figures["redeemed"],
        }
        buttons = format_html(
            " · ".join(['<a href="{}">{}</a>'] * len(links)), *[part for link in links for part in link]
        )
        return format_html("{}<br>{}", summary, buttons)

    @admin.display(description=_("link for mails and pages"))
    def public_link(self, obj):
        return tokens.offer_url(offer_id=obj.pk) if obj.pk else "-"

    def get_urls(self):
        return [
            permissions.admin_path(
                self, "<int:pk>/codes/generate/", self.generate_view, *FILL_POOL, name="offers_offer_generate"
            ),
            permissions.admin_path(
                self, "<int:pk>/codes/upload/", self.upload_view, *FILL_POOL, name="offers_offer_upload"
            ),
            permissions.admin_path(
                self, "<int:pk>/codes/shared/", self.shared_view, *FILL_POOL, name="offers_offer_shared"
            ),
            *super().get_urls(),
        ]

    def _back(self, offer):
        return redirect("admin:offers_offer_change", offer.pk)

    def generate_view(self, request, pk):
        offer = get_object_or_404(Offer, pk=pk)
        form = forms.GenerateCodesForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                added = pools.pool_generate(
                    offer=offer,
                    pattern=form.cleaned_data["pattern"],
                    count=form.cleaned_data["count"],
                    check_character=form.cleaned_data["check_character"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(
                    request, ngettext("%(count)d code added.", "%(count)d codes added.", added) % {"count": added}
                )
                return self._back(offer)
        title = _("Generate codes for %(name)s") % {"name": offer.name}
        return _form_page(self, request, form, title=title, offer=offer)

    def upload_view(self, request, pk):
        offer = get_object_or_404(Offer, pk=pk)
        form = forms.CsvFileForm(request.POST or None, request.FILES or None)
        title = _("Upload codes for %(name)s") % {"name": offer.name}
        if request.method == "POST" and form.is_valid():
            try:
                report = pools.pool_upload(offer=offer, data=form.cleaned_data["csv_file"].read())
            except (ValidationError, ImportFileError) as error:
                form.add_error("csv_file", error.messages if isinstance(error, ValidationError) else str(error))
            else:
                return _page(self, request, "admin/offers/code_report.html", title=title, report=report, offer=offer)
        help_text = _("One code per line in the first column; a header line such as “code” is skipped.")
        return _form_page(self, request, form, title=title, offer=offer, multipart=True, help_text=help_text)

    def shared_view(self, request, pk):
        offer = get_object_or_404(Offer, pk=pk)
        form = forms.SharedCodeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                pools.offer_shared_code_set(offer=offer, code=form.cleaned_data["code"])
            except ValidationError as error:
                form.add_error("code", error)
            else:
                messages.success(request, _("The offer uses one shared code now."))
                return self._back(offer)
        title = _("Shared code for %(name)s") % {"name": offer.name}
        return _form_page(self, request, form, title=title, offer=offer)


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ["code", "offer", "created_at", "is_redeemed"]
    list_filter = ["offer"]
    search_fields = ["lookup"]
    list_select_related = ["offer"]
    readonly_fields = ["offer", "code", "created_at"]
    actions = ["redeem_manually"]

    def has_add_permission(self, request):
        return False  # codes come from a pool's generate and upload pages

    def has_change_permission(self, request, obj=None):
        return False

    def has_redeem_permission(self, request):
        return permissions.has_staff_permissions(request.user, *REDEEM)

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.strip().upper())

    def get_queryset(self, request):
        redeemed = Exists(Redemption.objects.filter(coupon=OuterRef("pk")))
        return super().get_queryset(request).annotate(redeemed=redeemed)

    @admin.display(description=_("redeemed"), boolean=True, ordering="redeemed")
    def is_redeemed(self, obj):
        return obj.redeemed

    @admin.action(description=_("Mark the selected codes as redeemed"), permissions=["redeem"])
    def redeem_manually(self, request, queryset):
        done, problems = 0, []
        for coupon in queryset.select_related("offer"):
            try:
                outcome = offer_redeem(code=coupon.code, offer_id=coupon.offer_id, source=Redemption.Source.MANUAL)
            except RedemptionError as error:
                problems.append(f"{coupon.code}: {error}")
            else:
                done += outcome.created
        messages.success(
            request, ngettext("%(count)d code redeemed.", "%(count)d codes redeemed.", done) % {"count": done}
        )
        for problem in problems:
            messages.error(request, problem)


@admin.register(Redemption)
class RedemptionAdmin(admin.ModelAdmin):
    list_display = ["coupon", "offer", "redeemed_at", "order_ref", "order_value", "currency", "source"]
    list_filter = ["offer", "source", "currency"]
    list_select_related = ["coupon", "offer"]
    search_fields = ["coupon__lookup", "order_ref"]
    readonly_fields = [
        "offer",
        "coupon",
        "order_ref",
        "order_value",
        "currency",
        "source",
        "redeemed_at",
        "subscriber",
        "delivery",
    ]

    def has_add_permission(self, request):
        return False  # through offer_redeem: the API, the CSV upload, the coupon action

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            permissions.admin_path(self, "upload/", self.upload_view, *REDEEM, name="offers_redemption_upload"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra = (
            {"upload_url": reverse("admin:offers_redemption_upload")}
            if permissions.has_staff_permissions(request.user, *REDEEM)
            else {}
        )
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def upload_view(self, request):
        form = forms.CsvFileForm(request.POST or None, request.FILES or None)
        title = _("Upload redemptions")
        if request.method == "POST" and form.is_valid():
            try:
                report = redemptions_upload(data=form.cleaned_data["csv_file"].read())
            except ImportFileError as error:
                form.add_error("csv_file", str(error))
            else:
                return _page(self, request, "admin/offers/redemption_report.html", title=title, report=report)
        help_text = _(
            "The first line names the columns: code (required), order, value, currency, email, date. "
            "Each line is redeemed on its own; lines that cannot be are listed with the reason."
        )
        return _form_page(self, request, form, title=title, multipart=True, help_text=help_text)


class SubscriberRedemptionInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A person's redemptions on their subscriber page (``subscribers.extensions.SUBSCRIBER_ADMIN_INLINES``)."""

    model = Redemption
    fk_name = "subscriber"
    extra = 0
    fields = ["redeemed_at", "offer", "coupon", "campaign", "order_ref", "order_value", "currency", "source"]
    readonly_fields = fields
    ordering = ["-redeemed_at", "-pk"]
    verbose_name_plural = _("redemptions (reported by the shop; read-only)")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("offer", "coupon", "delivery__campaign")

    @admin.display(description=_("campaign"))
    def campaign(self, obj):
        return obj.delivery.campaign.name if obj.delivery_id else "–"


class CampaignOfferForm(django_forms.ModelForm):
    class Meta:
        model = CampaignOffer
        fields = ["campaign", "offer"]

    def clean(self):
        cleaned = super().clean()
        campaign, offer = cleaned.get("campaign"), cleaned.get("offer")
        changed = self.instance.pk and offer is not None and self.instance.offer_id != offer.pk
        if campaign is not None and changed and assignment.codes_given(campaign):
            raise ValidationError(_("Codes of this offer are in the mail's deliveries already; it cannot change."))
        return cleaned


@admin.register(CampaignOffer)
class CampaignOfferAdmin(admin.ModelAdmin):
    """Which offer a campaign or automation mail carries: its block, and each delivery's code at send time."""

    form = CampaignOfferForm
    list_display = ["campaign", "offer"]
    autocomplete_fields = ["campaign", "offer"]
    list_select_related = ["campaign", "offer"]

    def save_model(self, request, obj, form, change):
        obj.pk = assignment.campaign_offer_set(campaign=obj.campaign, offer=obj.offer).pk

    def delete_model(self, request, obj):
        assignment.campaign_offer_remove(campaign=obj.campaign)

    def delete_queryset(self, request, queryset):
        for block in queryset.select_related("campaign"):
            assignment.campaign_offer_remove(campaign=block.campaign)

    def has_delete_permission(self, request, obj=None):
        # Once codes are in a mail's deliveries, the block stays with them.
        return super().has_delete_permission(request, obj) and (obj is None or not assignment.codes_given(obj.campaign))
