from django.urls import path

from campaigns import feeds, views

app_name = "campaigns"

urlpatterns = [
    path("", views.home, name="home"),
    path("archive/<uuid:archive_id>/", views.archive, name="archive"),
    path("lists/<slug:slug>/archive/", views.list_archive, name="list_archive"),
    path("lists/<slug:slug>/archive/rss/", feeds.ListArchiveRssFeed(), name="list_archive_rss"),
    path("lists/<slug:slug>/archive/atom/", feeds.ListArchiveAtomFeed(), name="list_archive_atom"),
]
