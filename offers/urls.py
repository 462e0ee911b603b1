from django.urls import path

from offers import views

app_name = "offers"

urlpatterns = [
    # Keep in step with offers.tokens.PATH.
    path("o/<str:token>", views.offer_link, name="link"),
    path("api/offers/redeem", views.redeem, name="redeem"),
]
