from django.urls import path

from surveys import mail_views, views

app_name = "surveys"

urlpatterns = [
    path("survey/<slug:slug>/", views.survey_answer, name="answer"),
    path("survey/<slug:slug>/thanks/", views.survey_thanks, name="thanks"),
    # Keep in step with surveys.tokens.PATHS.
    path("s/a/<str:token>", mail_views.mail_answer, name="mail_answer"),
    path("s/o/<str:token>", mail_views.mail_survey, name="mail_survey"),
    path("s/f/<str:token>", mail_views.mail_feedback, name="mail_feedback"),
    path("s/p/<str:token>", mail_views.mail_preview, name="mail_preview"),
    path("staff/surveys/compare/", views.survey_comparison, name="comparison"),
    path("staff/surveys/<int:pk>/results/", views.survey_results, name="results"),
    path("staff/surveys/<int:pk>/results.csv", views.survey_results_csv, name="results_csv"),
]
