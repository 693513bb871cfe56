"""Page routes of the projects app, under /o/<org_slug>/."""

from django.urls import path

from . import views

PROJECT = "o/<slug:org_slug>/projects/<slug:project_name>/"

urlpatterns = [
    path("o/<slug:org_slug>/projects/", views.ProjectListView.as_view(), name="project_list"),
    path("o/<slug:org_slug>/projects/new/", views.ProjectCreateView.as_view(), name="project_create"),
    path("o/<slug:org_slug>/usage/", views.UsageView.as_view(), name="usage_org"),
    path(PROJECT, views.ProjectDetailView.as_view(), name="project_detail"),
    path(f"{PROJECT}edit/", views.ProjectEditView.as_view(), name="project_edit"),
    path(f"{PROJECT}delete/", views.ProjectDeleteView.as_view(), name="project_delete"),
    path(f"{PROJECT}runs/", views.StartRunView.as_view(), name="run_start"),
    path(f"{PROJECT}runs/<int:run_id>/", views.RunDetailView.as_view(), name="run_detail"),
    path(f"{PROJECT}runs/<int:run_id>/cancel/", views.CancelRunView.as_view(), name="run_cancel"),
]
