from django.urls import path

from tracking import views

app_name = "tracking"

# Keep in step with tokens.OPEN_PATH and tokens.CLICK_PATH (the lean WSGI path matches those).
urlpatterns = [
    path("t/o/<str:token>", views.pixel, name="pixel"),
    path("t/c/<str:token>", views.click, name="click"),
]
