from django.urls import path

from subscribers.views import self_service, signup

app_name = "subscribers"

urlpatterns = [
    path("subscribe/<slug:slug>/", signup.subscribe, name="subscribe"),
    path("subscribe/<slug:slug>/thanks/", signup.subscribe_thanks, name="subscribe_thanks"),
    path("subscribe/<slug:slug>/embedded/", signup.subscribe_embedded, name="subscribe_embedded"),
    path("staff/lists/<slug:slug>/embed/", signup.subscribe_embed_code, name="subscribe_embed_code"),
    path("altcha/challenge/", signup.altcha_challenge, name="altcha_challenge"),
    path("confirm/<str:token>/", signup.confirm, name="confirm"),
]

urlpatterns += [
    path("preferences/<str:token>/", self_service.preferences_view, name="preferences"),
    path("unsubscribe/<str:token>/", self_service.unsubscribe_view, name="unsubscribe"),
    path("unsubscribe/<str:token>/one-click/", self_service.one_click_unsubscribe_view, name="one_click_unsubscribe"),
    path("preferences/<str:token>/my-data/", self_service.data_link_request_view, name="data_link_request"),
    path("my-data/<uuid:public_id>/<str:token>/", self_service.data_export_view, name="data_export"),
    path("my-data/<uuid:public_id>/<str:token>/erase/", self_service.data_erase_view, name="data_erase"),
]
