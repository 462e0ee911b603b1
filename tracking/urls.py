from django.urls import path

from tracking import views
from tracking.analytics import views as analytics

app_name = "tracking"

# Keep in step with tokens.OPEN_PATH and tokens.CLICK_PATH (the lean WSGI path matches those).
urlpatterns = [
    path("t/o/<str:token>", views.pixel, name="pixel"),
    path("t/c/<str:token>", views.click, name="click"),
    # Staff analytics.
    path("staff/analytics/", analytics.campaign_list, name="analytics_campaigns"),
    path("staff/analytics/campaigns.csv", analytics.campaign_list_csv, name="analytics_campaigns_csv"),
    path("staff/analytics/compare/", analytics.campaign_compare, name="analytics_compare"),
    path("staff/analytics/compare/<slug:table>.csv", analytics.campaign_compare_csv, name="analytics_compare_csv"),
    path("staff/analytics/campaigns/<int:pk>/", analytics.campaign_detail, name="analytics_campaign"),
    path("staff/analytics/campaigns/<int:pk>/<slug:table>.csv", analytics.campaign_csv, name="analytics_campaign_csv"),
    path("staff/analytics/audience/", analytics.audience, name="analytics_audience"),
    path(
        "staff/analytics/audience/subscribers.csv",
        analytics.audience_subscribers_csv,
        name="analytics_audience_subscribers_csv",
    ),
    path("staff/analytics/audience/<slug:table>.csv", analytics.audience_csv, name="analytics_audience_csv"),
]
