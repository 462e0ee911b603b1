from django.urls import path

from referrals import views

app_name = "referrals"

urlpatterns = [
    path("r/visit/", views.referral_visit, name="visit"),
    path("r/<str:token>/", views.referral_link, name="link"),
    path("staff/referrals/", views.referral_analytics, name="analytics"),
    path("staff/referrals/growth.csv", views.referral_growth_csv, name="analytics_growth_csv"),
]
