"""The base of every API view under /projects/<project_uuid>/: tenancy by construction. The
project is resolved through projects.selectors (the one tenancy gate) and checked against
projects.permissions before the handler runs: a project the caller may not see is 404, one they
see but may not change is 403."""

from rest_framework import exceptions

from nyxsync.api import BaseApi
from projects import permissions, selectors
from projects.models import Project


class ProjectScopedApi(BaseApi):
    """A view under /projects/<project_uuid>/. `project_permission` names the check of
    projects.permissions the operation needs: "view", "sync" or "manage"."""

    project_permission = "view"
    project: Project

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        project = selectors.project_get_for_user(request.user, uuid=kwargs.get("project_uuid"))
        if project is None:
            raise exceptions.NotFound("no such project")
        if not getattr(permissions, f"can_{self.project_permission}")(request.user, project):
            raise exceptions.PermissionDenied(f"you may not {self.project_permission} this project")
        self.project = project
