import pytest
from django.urls import reverse

from campaigns.tests.factories import CampaignFactory
from subscribers.tests.factories import SubscriberFactory
from surveys import selectors
from surveys.models import Question
from surveys.selectors import nps_from_scores, survey_results
from surveys.services import response_submit
from surveys.tests.factories import QuestionFactory, SurveyFactory

pytestmark = pytest.mark.django_db


def answer(survey, **by_question):
    return response_submit(
        survey=survey.survey,
        answers={getattr(survey, name).pk: value for name, value in by_question.items()},
        subscriber=SubscriberFactory(),
        source="mail",
    )


def results_url(survey):
    return reverse("surveys:results", kwargs={"pk": survey.pk})


def test_nps_is_percent_promoters_minus_percent_detractors_rounded():
    # 3 promoters, 2 passives, 2 detractors of 7: 42.86 % − 28.57 % = 14.29 → 14
    figures = nps_from_scores({10: 2, 9: 1, 8: 1, 7: 1, 6: 1, 0: 1})
    assert figures == {"promoters": 3, "passives": 2, "detractors": 2, "total": 7, "score": 14}
    assert nps_from_scores({0: 1, 9: 2})["score"] == 33
    assert nps_from_scores({3: 2, 10: 1})["score"] == -33
    assert nps_from_scores({})["score"] is None


def test_results_count_distributions_nps_and_average_rating(survey):
    for nps, rating in [(10, 5), (9, 4), (7, 4), (2, 1)]:
        answer(survey, nps=nps, rating=rating, single=survey.politics.pk, multiple=[survey.news.pk, survey.essays.pk])
    answer(survey, nps=5, single=survey.culture.pk, multiple=[survey.news.pk])
    results = survey_results(survey=survey.survey)
    assert results["response_count"] == 5
    assert results["response_rate"] is None, "no delivered figure before the sending pipeline provides one"
    nps, rating, single, multiple, _free = results["questions"]
    assert nps.counts == [0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 1]
    assert nps.nps == {"promoters": 2, "passives": 1, "detractors": 2, "total": 5, "score": 0}
    assert rating.rows == [("1", 1), ("2", 0), ("3", 0), ("4", 2), ("5", 1)]
    assert rating.average == 3.5
    assert single.rows == [("Politics", 4), ("Culture", 1)]
    assert multiple.rows == [("News", 5), ("Essays", 4)]


def test_response_rate_uses_the_delivered_count_hook(survey, monkeypatch):
    survey.survey.campaign = CampaignFactory()
    survey.survey.save()
    answer(survey, nps=9)
    monkeypatch.setattr(selectors, "DELIVERED_COUNT", lambda campaign: 8)
    results = survey_results(survey=survey.survey)
    assert (results["delivered_count"], results["response_rate"]) == (8, 12.5)


def test_staff_results_page_shows_the_figures(admin_client, survey):
    answer(survey, nps=10, rating=4)
    answer(survey, nps=3, rating=2)
    html = admin_client.get(results_url(survey.survey), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<dd class="col-5" id="response-count">2</dd>' in html
    assert '<dd class="col-5 fw-bold" data-nps-score>0</dd>' in html
    assert "<strong data-average>3.0</strong>" in html
    assert "chart.umd.min.js" in html
    assert '<td>10</td><td class="text-end">1</td>' in html, "each chart has its numbers in a table"


def test_free_text_answers_can_be_searched(admin_client, survey):
    answer(survey, nps=9, free="Mehr über Fahrräder")
    answer(survey, nps=9, free="Weniger Werbung")
    response = admin_client.get(results_url(survey.survey) + "?q=fahrräd")
    html = response.content.decode()
    assert "Mehr über Fahrräder" in html
    assert "Weniger Werbung" not in html


def test_free_text_answers_are_escaped_on_the_results_page(admin_client, survey):
    answer(survey, nps=9, free='<script>alert("x")</script><img src=x onerror=alert(1)>')
    html = admin_client.get(results_url(survey.survey)).content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_surveys_of_different_campaigns_are_compared_side_by_side(admin_client):
    rows = []
    for name, scores in [("Spring issue", [10, 10, 2]), ("Summer issue", [8, 9])]:
        survey = SurveyFactory(campaign=CampaignFactory(name=name))
        question = QuestionFactory(survey=survey, kind=Question.Kind.NPS)
        for score in scores:
            response_submit(survey=survey, answers={question.pk: score}, subscriber=SubscriberFactory(), source="mail")
        rows.append(survey)
    SurveyFactory(campaign=None)
    comparison = {
        row["campaign"].name: (row["response_count"], row["nps"]) for row in selectors.survey_campaign_comparison()
    }
    assert comparison == {"Spring issue": (3, 33), "Summer issue": (2, 50)}
    html = admin_client.get(reverse("surveys:comparison")).content.decode()
    assert "Spring issue" in html and "Summer issue" in html


def test_admin_lists_surveys_with_a_results_link(admin_client, survey):
    html = admin_client.get(reverse("admin:surveys_survey_changelist")).content.decode()
    assert results_url(survey.survey) in html
    change = admin_client.get(reverse("admin:surveys_survey_change", args=[survey.survey.pk]))
    assert change.status_code == 200
    assert reverse("admin:surveys_question_change", args=[survey.single.pk]) in change.content.decode()
    assert admin_client.get(reverse("admin:surveys_question_change", args=[survey.single.pk])).status_code == 200
