"""Writes to projects: the project itself, its members and its secrets."""

import logging
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, models, transaction
from django.db.models.functions import Cast
from django.db.models.lookups import Exact
from django.utils import timezone

from nyxsync import crypto
from nyxsync.errors import DomainError
from projects import permissions
from projects.models import Membership, Project
from repositories.tokens import token_host_for, token_is_sendable

logger = logging.getLogger(__name__)


class ProjectError(DomainError, ValueError):
    """A request about a project that cannot be done; the message says why."""


class ProjectForbidden(ProjectError):
    """The actor may not do this to the project (or to its owner's projects)."""

    code = "forbidden"
    http_status = 403


def project_create(*, owner, name: str, repository: str, github_token: str | None = None) -> Project:
    """A new project, born with its webhook secret (project.webhook_secret, for the caller to
    show once) and, if given, its repository token (checked by the caller, which is
    syncs.services.project_link)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ProjectError("a project name has 1 to 100 characters")
    try:
        with transaction.atomic():
            return Project.objects.create(
                owner=owner,
                name=name,
                repository=repository,
                webhook_secret=secrets.token_urlsafe(32),
                github_token=github_token or None,
                github_token_host=token_host_for(repository) if github_token else "",
            )
    except IntegrityError as exc:
        raise ProjectError(f"you already have a project named {name!r}") from exc


# --- rename and webhook secret ------------------------------------------------------------------


def project_rename(*, project: Project, name: str) -> Project:
    name = name.strip()
    if not name or len(name) > 100:
        raise ProjectError("a project name has 1 to 100 characters")
    if name == project.name:
        return project
    try:
        with transaction.atomic():
            Project.objects.filter(pk=project.pk).update(name=name, updated_at=timezone.now())
    except IntegrityError as exc:
        raise ProjectError(f"you already have a project named {name!r}") from exc
    project.refresh_from_db()
    return project


def project_webhook_secret_rotate(*, project: Project) -> str:
    """A new webhook secret for the project, returned once (the caller shows it to the owner).
    Deliveries signed with the previous secret are refused from now on."""
    secret = secrets.token_urlsafe(32)
    Project.objects.filter(pk=project.pk).update(webhook_secret=secret, updated_at=timezone.now())
    logger.info("project.webhook_secret.rotated", extra={"project_id": str(project.uuid)})
    return secret


# --- members -----------------------------------------------------------------------------------
# Only owners manage members. The project's `owner` (its creator) is an owner without a
# membership row: it is listed with the members but cannot be changed or removed here. A change
# that would leave the project without an active owner is refused.


class MemberError(ProjectError):
    """A member change that cannot be done."""


class MemberNotFound(MemberError):
    code = "not_found"
    http_status = 404


class MemberConflict(MemberError):
    """The project's members do not allow this change now (a duplicate, the last owner)."""

    code = "conflict"
    http_status = 409


def project_member_add(*, project: Project, actor, username: str, role: str) -> Membership:
    _check_manage(actor, project)
    role = _role(role)
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise MemberError(f"no active user named {username!r}")
    if user.pk == project.owner_id:
        raise MemberConflict(f"{username} created the project and is its owner already")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(project=project, user=user, role=role)
    except IntegrityError as exc:  # the unique (project, user) constraint, also against a race
        raise MemberConflict(f"{username} is a member already") from exc
    _log("project.member.added", project, membership)
    return membership


def project_member_change_role(*, project: Project, actor, username: str, role: str) -> Membership:
    _check_manage(actor, project)
    role = _role(role)
    with transaction.atomic():
        membership = _membership_for_update(project, username)
        if membership.role == role:
            return membership
        if membership.role == Membership.Role.OWNER:
            _check_another_owner(project, membership)
        Membership.objects.filter(pk=membership.pk).update(role=role)
        membership.role = role
    _log("project.member.role_changed", project, membership)
    return membership


def project_member_remove(*, project: Project, actor, username: str) -> None:
    _check_manage(actor, project)
    with transaction.atomic():
        membership = _membership_for_update(project, username)
        if membership.role == Membership.Role.OWNER:
            _check_another_owner(project, membership)
        membership.delete()
    _log("project.member.removed", project, membership)


def _check_manage(actor, project: Project) -> None:
    # The doors check first (and answer 404 or 403); this holds for any caller of the service.
    if not permissions.can_manage(actor, project):
        raise PermissionDenied("only the project's owners may manage its members")


def _role(role: str) -> str:
    if role not in Membership.Role.values:
        raise MemberError(f"role must be one of {', '.join(Membership.Role.values)}")
    return role


def _membership_for_update(project: Project, username: str) -> Membership:
    """The member's row, after locking the project's: member changes of one project happen one
    at a time, so two owners demoting each other at once cannot both pass the last-owner check."""
    Project.objects.select_for_update(no_key=True).filter(pk=project.pk).values_list("pk").first()
    if username == project.owner.get_username():
        raise MemberConflict(f"{username} created the project and stays its owner")
    membership = Membership.objects.select_related("user").filter(project=project, user__username=username).first()
    if membership is None:
        raise MemberNotFound(f"{username} is not a member of this project")
    return membership


def _check_another_owner(project: Project, leaving: Membership) -> None:
    if project.owner.is_active:
        return
    others = Membership.objects.filter(project=project, role=Membership.Role.OWNER, user__is_active=True).exclude(pk=leaving.pk)
    if not others.exists():
        raise MemberConflict(f"{leaving.user.get_username()} is the project's last owner")


def _log(name: str, project: Project, membership: Membership) -> None:
    logger.info(name, extra={"project_id": str(project.uuid), "user_id": membership.user_id, "role": membership.role})


# --- secrets -----------------------------------------------------------------------------------
# Stored encrypted (nyxsync.fields.EncryptedTextField); never logged, never shown again.

def github_token_validate(token: str | None) -> None:
    """Raises ProjectError for a token git could not send; the message never echoes it."""
    if token and not token_is_sendable(token):
        raise ProjectError("a token is 1 to 255 printable ASCII characters, without spaces")


def project_github_token_set(*, project: Project, token: str | None) -> None:
    """Set (or, with None or "", clear) the token git and the GitHub API get for the project's
    repository. The value is never logged, returned or echoed in an error."""
    github_token_validate(token)
    host = token_host_for(project.repository) if token else ""
    Project.objects.filter(pk=project.pk).update(github_token=token or None, github_token_host=host, updated_at=timezone.now())
    project.github_token, project.github_token_host = token or None, host
    logger.info("project.github_token.set" if token else "project.github_token.cleared", extra={"project_id": str(project.uuid)})


SECRET_FIELDS = ("webhook_secret", "github_token")
ROTATE_BATCH = 500


@dataclass
class RotationReport:
    rotated: int = 0  # re-encrypted with the first key (plaintext ones encrypted)
    current: int = 0  # already encrypted with the first key
    failed: int = 0  # no key decrypts them: left as they are (SecretError logged, no value)


def secrets_rotate(*, batch: int = ROTATE_BATCH) -> RotationReport:
    """Re-encrypt every stored secret with the first of NYXSYNC_ENCRYPTION_KEYS, so the others
    can be retired. Re-runnable; runs in batches, each write a compare-and-set on the stored text
    read (a secret changed meanwhile is left to its new value). Reads every project: callers act
    for the system (manage.py commands do)."""
    from repositories.models import GithubConnection

    report = RotationReport()
    columns = [(Project, name) for name in SECRET_FIELDS] + [(GithubConnection, "token")]  # users' GitHub tokens too
    for model, name in columns:
        stored = Cast(name, output_field=models.TextField())  # as stored: not decrypted
        rows = model.objects.filter(**{f"{name}__isnull": False}).annotate(stored=stored).order_by("pk")
        last = 0
        while chunk := list(rows.filter(pk__gt=last).values_list("pk", "stored")[:batch]):
            last = chunk[-1][0]
            for pk, value in chunk:
                if not crypto.needs_rotation(value):
                    report.current += 1
                    continue
                try:
                    rotated = crypto.rotate(value)
                except crypto.SecretError:
                    report.failed += 1
                    logger.error("secrets.rotate.undecryptable", extra={"model": model._meta.label, "pk": pk, "field": name})
                    continue
                # Written as it is (already ciphertext), past the field's own encryption.
                model.objects.filter(Exact(stored, value), pk=pk).update(**{name: models.Value(rotated, output_field=models.TextField())})
                report.rotated += 1
    logger.info("secrets.rotated", extra={"rotated": report.rotated, "current": report.current, "failed": report.failed})
    return report
