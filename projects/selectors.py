"""Reads of projects. `project_get_for_user` is the one road to a Project for any door: a missing
project and another user's project look alike (None)."""

from dataclasses import dataclass

from django.db.models import Q

from nyxsync.uuids import parse_uuid, parse_uuids
from projects.models import Membership, Project


def projects_for_user(user, *, uuids=None, search: str | None = None, sync_status: str | None = None, ordering=None):
    """Every project `user` may see (not deleted): the one place that decides it. Narrowed, if
    asked, to those among `uuids` (malformed, missing and foreign ids are left out), whose name
    contains `search`, or in `sync_status`; ordered by `ordering` (then id) if given."""
    if user is None or not user.is_authenticated:
        return Project.objects.none()
    projects = Project.objects.filter(deleted_at__isnull=True)
    if not user.is_superuser:
        projects = projects.filter(_member(user))
    if uuids is not None:
        projects = projects.filter(uuid__in=parse_uuids(uuids))
    if search is not None:
        projects = projects.filter(name__icontains=search)
    if sync_status is not None:
        projects = projects.filter(sync_status=sync_status)
    return projects.order_by(ordering, "pk") if ordering else projects


def projects_not_deleted():
    """Every project not deleted, for callers that act for the system (operators' commands)."""
    return Project.objects.filter(deleted_at__isnull=True)


def _member(user) -> Q:
    """Owner or member: the same rule as the row-level security policies (nyxsync.migrations.0001)."""
    return Q(owner=user) | Q(pk__in=Membership.objects.filter(user=user).values("project_id"))


def project_get_for_user(user, *, uuid=None, name: str | None = None, owner=None) -> Project | None:
    projects = projects_for_user(user).select_related("owner")
    if uuid is not None:
        if (uuid := parse_uuid(uuid)) is None:
            return None
        projects = projects.filter(uuid=uuid)
    if name is not None:
        projects = projects.filter(name=name, owner=owner or user)
    return projects.first()


def projects_named_for_user(user, ref: str) -> list[Project]:
    """The projects `user` may see that `ref` names: a uuid, a project name (every visible
    project of that name: more than one when two owners chose the same name) or, failing that,
    `owner/name`. For doors where people and agents type names (MCP tools)."""
    ref = (ref or "").strip()
    projects = projects_for_user(user).select_related("owner").order_by("owner__username", "pk")
    if (uuid := parse_uuid(ref)) is not None:
        return list(projects.filter(uuid=uuid))
    named = list(projects.filter(name=ref))
    if named or "/" not in ref:
        return named
    owner, name = ref.split("/", 1)  # usernames hold no "/"; project names may
    return list(projects.filter(owner__username=owner, name=name))


# --- deleted projects and webhook routing --------------------------------------------------------


def deleted_projects_for_user(user):
    """Soft-deleted projects `user` may purge (what projects_for_user hides). Same rule of who."""
    if user is None or not user.is_authenticated:
        return Project.objects.none()
    projects = Project.objects.filter(deleted_at__isnull=False)
    if user.is_superuser:
        return projects
    owners = Membership.objects.filter(user=user, role=Membership.Role.OWNER).values("project_id")
    return projects.filter(Q(owner=user) | Q(pk__in=owners))  # only owners may purge


def deleted_project_get_for_user(user, *, uuid) -> Project | None:
    if (uuid := parse_uuid(uuid)) is None:
        return None
    return deleted_projects_for_user(user).filter(uuid=uuid).first()


def dangerously_projects_linked_to(*, repository_urls, displays, project_uuid=None):
    """Live projects with a webhook secret linked to a repository, for any user: only for a webhook
    delivery, which then proves which project it is for with that project's secret
    (projects.webhooks). `project_uuid`: the one project of a per-project URL; without it, the
    projects whose hooks predate those URLs (webhook_shared_url), every one of them: a cap would
    let projects linked to someone else's repository crowd theirs out. Matched case-insensitively
    (GitHub names are)."""
    match = Q()
    for url in repository_urls:
        match |= Q(syncs__repository_url__iexact=url)
    for display in displays:
        match |= Q(repository__iexact=display)
    if not match:
        return Project.objects.none()
    projects = Project.objects.filter(match, deleted_at__isnull=True, webhook_secret__isnull=False)
    if project_uuid is None:
        projects = projects.filter(webhook_shared_url=True)
    else:
        parsed = parse_uuid(project_uuid)
        if parsed is None:
            return Project.objects.none()
        projects = projects.filter(uuid=parsed)
    return Project.objects.filter(pk__in=projects.values("pk").distinct()).order_by("pk")


@dataclass(frozen=True)
class Member:
    """Someone who may see the project: the creator (no membership row) or a member."""

    user: object
    role: str
    creator: bool
    added_at: object  # datetime; the project's creation for its creator

    @classmethod
    def of(cls, membership: Membership) -> "Member":
        return cls(user=membership.user, role=membership.role, creator=False, added_at=membership.created_at)


def project_members(*, project: Project) -> list[Member]:
    """The creator first, then the members by username."""
    memberships = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
    creator = Member(user=project.owner, role=Membership.Role.OWNER, creator=True, added_at=project.created_at)
    return [creator, *(Member.of(membership) for membership in memberships)]
