"""Referrals for staff: every referral with its status and the reason a rule gave, the milestones
(editable) and the rewards given (read-only)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from newsletter_site.admin_mixins import ReadOnlyAdminMixin
from referrals.models import Milestone, MilestoneReward, Referral


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    pass


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "referrer", "invitee", "mailing_list", "status", "reason_shown", "credited_at"]
    list_filter = ["status", "reason", "mailing_list"]
    list_select_related = ["referrer", "invitee", "mailing_list"]
    search_fields = ["referrer__email", "invitee__email"]
    date_hierarchy = "created_at"

    @admin.display(description=_("reason"), ordering="reason")
    def reason_shown(self, obj):
        return obj.get_reason_display() if obj.reason else ""


@admin.register(Milestone)
class MilestoneAdmin(admin.ModelAdmin):
    list_display = ["referrals", "reward", "tag", "offer", "is_active"]
    list_editable = ["is_active"]
    list_select_related = ["tag", "offer"]


@admin.register(MilestoneReward)
class MilestoneRewardAdmin(ReadOnlyAdmin):
    list_display = ["granted_at", "referrer", "milestone", "status", "reason_shown", "code", "given_at"]
    list_filter = ["status", "reason"]
    list_select_related = ["referrer", "milestone", "coupon_assignment__coupon"]
    search_fields = ["referrer__email"]

    @admin.display(description=_("why pending"), ordering="reason")
    def reason_shown(self, obj):
        return obj.get_reason_display() if obj.reason else ""

    @admin.display(description=_("code"))
    def code(self, obj):
        return obj.coupon_assignment.coupon.code if obj.coupon_assignment else ""
