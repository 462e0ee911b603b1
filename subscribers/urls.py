from django.urls import path

from subscribers import views

app_name = "subscribers"

urlpatterns = [
    path("subscribe/<slug:slug>/", views.subscribe, name="subscribe"),
    path("subscribe/<slug:slug>/thanks/", views.subscribe_thanks, name="subscribe_thanks"),
    path("confirm/<str:token>/", views.confirm, name="confirm"),
]
