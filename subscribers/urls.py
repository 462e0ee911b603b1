from django.urls import path

from subscribers.views import signup

app_name = "subscribers"

urlpatterns = [
    path("subscribe/<slug:slug>/", signup.subscribe, name="subscribe"),
    path("subscribe/<slug:slug>/thanks/", signup.subscribe_thanks, name="subscribe_thanks"),
    path("confirm/<str:token>/", signup.confirm, name="confirm"),
]
