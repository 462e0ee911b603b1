from django.contrib import admin
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from dashboard import selectors
from newsletter_site.permissions import has_staff_permissions, may_use, staff_permission_required


@staff_permission_required("campaigns.view_campaign")
def dashboard(request):
    """The first page of the back office: what is sending, how the last campaigns did, the list's
    growth, and what needs attention. Sections of other apps show to staff who may view them."""
    user = request.user
    may_view_offers = has_staff_permissions(user, "offers.view_offer")
    may_view_automations = has_staff_permissions(user, "automations.view_automation")
    context = {
        **admin.site.each_context(request),
        "title": _("Dashboard"),
        "sends": selectors.sends_in_progress(),
        "recent": selectors.recent_campaigns(),
        "growth": selectors.list_growth(),
        "nps": selectors.nps_trend() if has_staff_permissions(user, "surveys.view_survey") else [],
        "automations": selectors.active_automations() if may_view_automations else None,
        "offers": selectors.active_offers() if may_view_offers else None,
        "alerts": selectors.dashboard_warnings(may_view_offers=may_view_offers),
        "app_list": admin.site.get_app_list(request),
    }
    return render(request, "dashboard/dashboard.html", context)


def _admin_home(request):
    """The admin's first page: the dashboard for staff who may open it, else the model list."""
    if may_use(request.user, dashboard):
        return redirect("dashboard:dashboard")
    return admin.site.index(request)


# The admin's login redirect for outsiders, as on every admin page.
admin_home = admin.site.admin_view(_admin_home)
