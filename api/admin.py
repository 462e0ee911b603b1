from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api import scopes, services
from api.models import ApiKey


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(label=_("scopes"), widget=forms.CheckboxSelectMultiple, choices=())

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "expires_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "scopes" in self.fields:  # read-only once the key exists
            self.fields["scopes"].choices = scopes.choices()


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are created here and shown once; afterwards only their prefix, scopes and use are visible."""

    form = ApiKeyForm
    list_display = ["name", "prefix", "scope_list", "expires_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "scopes", "last_used_at", "revoked_at", "created_by", "created_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "name", "expires_at"] if obj else []

    def get_fields(self, request, obj=None):
        return ["name", "scopes", "expires_at"] if obj is None else ["name", *self.readonly_fields, "expires_at"]

    @admin.display(description=_("scopes"))
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        if change:
            return
        created, raw_key = services.api_key_create(
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_at=form.cleaned_data["expires_at"],
            created_by=request.user,
        )
        obj.pk, obj.prefix, obj.created_at = created.pk, created.prefix, created.created_at
        obj._state.adding = False
        messages.warning(
            request,
            _("Copy this key now; it will not be shown again: %(key)s") % {"key": raw_key},
        )

    @admin.action(description=_("Revoke the selected keys"), permissions=["change"])
    def revoke(self, request, queryset):
        keys = list(queryset.filter(revoked_at__isnull=True))
        for key in keys:
            services.api_key_revoke(key=key)
        messages.success(
            request,
            ngettext("%(count)d key revoked.", "%(count)d keys revoked.", len(keys)) % {"count": len(keys)},
        )
