from django import forms
from django.contrib import admin, messages
from django.db import models
from django.utils.translation import gettext_lazy as _

from brands.models import Brand, Layout, SocialLink
from brands.services import brand_make_default, brand_save


class SocialLinkInline(admin.TabularInline):
    model = SocialLink
    extra = 0
    fields = ["platform", "url", "position"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["name", "is_default", "primary_color", "font"]
    search_fields = ["name"]
    inlines = [SocialLinkInline]
    actions = ["make_default"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = [
        (None, {"fields": ["name", "is_default"]}),
        (_("Logo"), {"fields": ["logo", "logo_url", "logo_width"]}),
        (
            _("Colours and font"),
            {"fields": ["primary_color", "accent_color", "background_color", "text_color", "font"]},
        ),
        (_("Legal footer"), {"fields": ["company_address", "imprint_url", "privacy_url"]}),
    ]
    readonly_fields = ["is_default"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        for name in ("primary_color", "accent_color", "background_color", "text_color"):
            form.base_fields[name].widget = forms.TextInput(attrs={"type": "color"})
        return form

    def save_model(self, request, obj, form, change):
        brand_save(brand=obj)

    def get_actions(self, request):
        # The bulk delete would also take the default brand; deleting one by one keeps it.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(description=_("Make the selected brand the default"), permissions=["change"])
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one brand."), messages.ERROR)
            return
        brand = brand_make_default(brand=queryset.get())
        self.message_user(request, _("“%(name)s” is now the default brand.") % {"name": brand.name})


@admin.register(Layout)
class LayoutAdmin(admin.ModelAdmin):
    list_display = ["name", "updated_at"]
    search_fields = ["name"]
    formfield_overrides = {
        models.TextField: {
            "widget": forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false", "class": "vLargeTextField"})
        }
    }
