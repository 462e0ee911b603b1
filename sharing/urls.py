from django.urls import path

from sharing import views

app_name = "sharing"

urlpatterns = [
    path("forward/<str:token>/", views.forward, name="forward"),
    path("share/<str:token>/<str:network>/", views.share, name="share"),
]
