from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from sharing.models import SharingEvent


class SubscriberSharingInline(ReadOnlyAdminMixin, admin.TabularInline):
    """A person's forwards and shares on their subscriber page (``subscribers.extensions.SUBSCRIBER_ADMIN_INLINES``)."""

    model = SharingEvent
    fk_name = "subscriber"
    extra = 0
    fields = ["occurred_at", "kind", "campaign", "network", "recipients", "machine_reason"]
    readonly_fields = fields
    ordering = ["-occurred_at", "-pk"]
    verbose_name_plural = _("forwards and shares (read-only)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("campaign")
