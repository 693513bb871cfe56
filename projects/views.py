"""Server-rendered pages of the projects app: list, create/edit/delete, detail with run start and history,
run detail with a live log tail (a meta refresh without JavaScript; `static/js/run-log.js` polls the
API when scripts run: no inline script, for the coming Content-Security-Policy), and usage analytics.

Views are thin: objects come from `get_org_object` (another organization's is a 404) and every change
is one `do_*` service call through `OrgFormView`.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.views.generic import TemplateView

from accounts.forms import ConfirmForm
from accounts.mixins import OrgFormView, OrgPageMixin
from accounts.models import Environment
from accounts.policy import Action
from connections.models import Connection

from . import analytics, services
from .detection import missing_for
from .filtersets import RunFilterSet
from .forms import ProjectForm, RunFilterForm, StartRunForm
from .models import RunLogLine, TerraformProject, TerraformRun

NAV = "projects"
RUNS_PAGE = 25
RELATED = ("environment", "connection", "role", "role__connection", "backend_connection", "git_connection")


class ProjectMixin:
    project: TerraformProject

    def resolve_objects(self) -> None:
        queryset = TerraformProject.objects.select_related(*RELATED).defer("archive", "local_state_envelope")
        self.project = self.get_org_object(queryset, Action.VIEW, name=self.kwargs["project_name"])  # type: ignore[attr-defined]

    def service_target(self) -> Any:
        return self.project

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        context["project"] = self.project
        return context


class ProjectListView(OrgPageMixin, TemplateView):
    template_name = "projects/project_list.html"
    nav_section = NAV

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        projects = (
            TerraformProject.objects.restrict(self.actor, Action.VIEW)
            .filter(org=self.org)
            .select_related(*RELATED)
            .defer("archive", "local_state_envelope")
            .order_by("name")
        )
        page = Paginator(projects, 50).get_page(self.request.GET.get("page"))
        context.update(page_obj=page, projects=list(page.object_list), may_add=self.can(Action.MANAGE_PROJECTS))
        return context


class ProjectCreateView(OrgFormView):
    template_name = "projects/project_form.html"
    nav_section = NAV
    required_action = Action.MANAGE_PROJECTS
    form_class = ProjectForm
    service = staticmethod(services.do_create_project)
    success_message = "Project “{result.name}” created."

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "org": self.org}

    def service_arguments(self, form: ProjectForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.org,), form.service_data()

    def get_success_url(self, result: Any = None) -> str:
        return self.org_url("project_detail", project_name=result.name)


class ProjectEditView(ProjectMixin, ProjectCreateView):
    service = staticmethod(services.do_update_project)
    success_message = "Project “{result.name}” saved."

    def get_initial(self) -> dict[str, Any]:
        p = self.project
        return {
            "name": p.name, "description": p.description, "environment": p.environment.slug,
            "connection": p.connection.name if p.connection else "", "provider": p.provider,
            "role": str(p.role_id or ""),
            "backend_connection": p.backend_connection.name if p.backend_connection else "",
            "variables": json.dumps(p.variables, indent=2), "source_kind": p.source_kind,
            "git_connection": p.git_connection.name if p.git_connection else "", "git_url": p.git_url,
            "git_ref": p.git_ref, "git_subdirectory": p.git_subdirectory,
        }  # fmt: skip

    def service_arguments(self, form: ProjectForm) -> tuple[tuple[Any, ...], dict[str, Any]]:
        data = form.service_data()
        if not data.get("archive"):
            data.pop("archive", None)
        return (self.project,), data


class ProjectDeleteView(ProjectMixin, OrgFormView):
    template_name = "projects/project_delete.html"
    nav_section = NAV
    required_action = Action.MANAGE_PROJECTS
    form_class = ConfirmForm
    service = staticmethod(services.do_delete_project)
    success_message = "Project deleted."
    success_url_name = "project_list"

    def service_arguments(self, form: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.project,), {}


class ProjectDetailView(ProjectMixin, OrgPageMixin, TemplateView):
    template_name = "projects/project_detail.html"
    nav_section = NAV

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        runs = TerraformRun.objects.filter(project=self.project).select_related("connection")
        filters = RunFilterForm(self.request.GET or None)
        filterset = RunFilterSet({k: v for k, v in self.request.GET.items() if k in ("status", "kind")}, queryset=runs)
        rows = filterset.qs if filterset.is_valid() else runs.none()
        page = Paginator(rows, RUNS_PAGE).get_page(self.request.GET.get("page"))
        context.update(
            runs=list(page.object_list), page_obj=page, filter_form=filters,
            start_form=StartRunForm(), may_run=self.can(Action.START_RUN, self.project),
            may_manage=self.can(Action.MANAGE_PROJECTS, self.project), missing=missing_for(self.project),
        )  # fmt: skip
        return context


class StartRunView(ProjectMixin, OrgFormView):
    template_name = "projects/project_detail.html"
    nav_section = NAV
    required_action = Action.START_RUN
    form_class = StartRunForm
    service = staticmethod(services.do_start_run)

    def get(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        return HttpResponseRedirect(self.org_url("project_detail", project_name=self.project.name))

    def get_success_message(self, form: Any, result: TerraformRun) -> str:
        return f"Run #{result.pk} ({result.kind}) is {result.status}."

    def get_success_url(self, result: Any = None) -> str:
        return self.org_url("run_detail", project_name=self.project.name, run_id=result.pk)

    def service_failed(self, form: Any) -> HttpResponse:
        for errors in form.errors.values():
            for error in errors:
                messages.error(self.request, error)
        return HttpResponseRedirect(self.org_url("project_detail", project_name=self.project.name))


class RunMixin(ProjectMixin):
    run: TerraformRun

    def resolve_objects(self) -> None:
        super().resolve_objects()
        run = (
            TerraformRun.objects.filter(project=self.project, pk=self.kwargs["run_id"])
            .select_related("connection")
            .first()
        )
        if run is None:
            raise Http404("No such run.")
        self.run = run

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["run"] = self.run
        return context


class RunDetailView(RunMixin, OrgPageMixin, TemplateView):
    template_name = "projects/run_detail.html"
    nav_section = NAV

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            lines=list(RunLogLine.objects.filter(run=self.run).order_by("seq").values_list("seq", "text")[:20000]),
            may_cancel=not self.run.finished and self.can(Action.START_RUN, self.project),
            cancel_form=ConfirmForm(),
        )
        return context


class CancelRunView(RunMixin, OrgFormView):
    template_name = "projects/run_detail.html"
    nav_section = NAV
    required_action = Action.START_RUN
    form_class = ConfirmForm
    service = staticmethod(services.do_cancel_run)
    success_message = "Cancel requested."

    def service_arguments(self, form: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.run,), {}

    def get_success_url(self, result: Any = None) -> str:
        return self.org_url("run_detail", project_name=self.project.name, run_id=self.run.pk)


class UsageView(OrgPageMixin, TemplateView):
    template_name = "projects/usage.html"
    nav_section = "usage"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        connection = self.request.GET.get("connection") or None
        environment = self.request.GET.get("environment") or None
        try:
            data = analytics.usage(
                self.org, actor=self.actor, connection=connection, environment=environment,
                days=self.request.GET.get("days") or 30,
            )  # fmt: skip
        except analytics.NotFound as exc:
            raise Http404(str(exc)) from None
        context.update(
            usage=data, runs_chart=analytics.bars(data.per_day, "runs"),
            failed_chart=analytics.bars(data.per_day, "failed"),
            deploy_chart=analytics.bars(data.per_day, "deployments"),
            connections=list(Connection.objects.filter(org=self.org).order_by("name").values_list("name", flat=True)),
            environments=list(Environment.objects.filter(org=self.org).order_by("slug").values_list("slug", flat=True)),
            selected_connection=connection or "", selected_environment=environment or "",
            error_percent=round(data.error_rate * 100, 1),
        )  # fmt: skip
        return context
