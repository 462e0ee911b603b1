from django.urls import path

from api.rest.v1 import api

urlpatterns = [path("api/v1/", api.urls)]
