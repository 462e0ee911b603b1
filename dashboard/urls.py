from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    # Before the admin's own URLs, so the admin's first page leads to the dashboard.
    path("admin/", views.admin_home, name="admin_home"),
    path("admin/dashboard/", views.dashboard, name="dashboard"),
]
