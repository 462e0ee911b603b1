from django.urls import path

from surveys import views

app_name = "surveys"

urlpatterns = [
    path("survey/<slug:slug>/", views.survey_answer, name="answer"),
    path("survey/<slug:slug>/thanks/", views.survey_thanks, name="thanks"),
    path("staff/surveys/compare/", views.survey_comparison, name="comparison"),
    path("staff/surveys/<int:pk>/results/", views.survey_results, name="results"),
    path("staff/surveys/<int:pk>/results.csv", views.survey_results_csv, name="results_csv"),
]
