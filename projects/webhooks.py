"""GitHub push webhooks: verify a delivery, then sync the branch it names.

A delivery is hostile until its signature checks out. Each project has its own URL
(/api/v1/webhooks/github/<project uuid>/): its secret alone is compared, so no number of other
projects linked to the same repository can stand in the way. The shared URL
(/api/v1/webhooks/github/) still serves hooks made before, for those projects only
(Project.webhook_shared_url). The delivery names its repository in the body, so the body is parsed
first (bounded: the view caps its size); the project must be linked to that repository, and
`X-Hub-Signature-256` (HMAC-SHA256 of the raw body) must match its secret (compared in constant
time). Only verified deliveries change
anything, and each verified delivery is recorded per project: a replay (same X-GitHub-Delivery)
finds its row and does nothing. The secret is stored encrypted (projects.models: read decrypted)
and is never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from nyxsync import tenancy
from nyxsync.api_errors import ApiError
from projects.models import Project, WebhookDelivery
from projects.selectors import dangerously_projects_linked_to
from repositories.input import InvalidInput, normalize_repository, validate_branch

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # GitHub caps payloads at 25 MB, but a push we act on is small
_SIGNATURE = re.compile(r"sha256=([0-9a-f]{64})")
_DELIVERY_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
_EVENT = re.compile(r"[a-z_]{1,50}")


class Result:
    PONG = "pong"
    QUEUED = "queued"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"


@dataclass
class DeliveryOutcome:
    event: str
    delivery: str
    result: str
    detail: str
    runs: list[str] = field(default_factory=list)


def webhook_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` (tests sign with it too)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def github_delivery_handle(
    *, event: str, delivery_id: str, signature: str, content_type: str, body: bytes, project_uuid: str | None = None
) -> DeliveryOutcome:
    """Verify and act on one delivery, sent to the URL of the project `project_uuid` (None: the
    shared URL). Raises ApiError (4xx) for anything refused, before any write."""
    if not _EVENT.fullmatch(event or ""):
        raise ApiError("X-GitHub-Event is missing or invalid", code="webhook_event_invalid")
    if not _DELIVERY_ID.fullmatch(delivery_id or ""):
        raise ApiError("X-GitHub-Delivery is missing or invalid", code="webhook_delivery_invalid")
    if not signature:
        raise ApiError("X-Hub-Signature-256 is missing", code="webhook_signature_missing", status_code=403)
    provided = _SIGNATURE.fullmatch(signature)
    if provided is None:
        raise ApiError("X-Hub-Signature-256 is not a sha256 signature", code="webhook_signature_invalid", status_code=403)
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise ApiError(
            "set the webhook's content type to application/json", code="unsupported_media_type", status_code=415
        )
    payload = _parse(body)
    urls, displays = _repository_of(payload)
    # A delivery comes from no user: finding its candidates looks across tenants, and only those
    # whose secret signed it are acted on.
    with tenancy.dangerously_as_system():
        candidates = list(dangerously_projects_linked_to(repository_urls=urls, displays=displays, project_uuid=project_uuid))
    projects = [
        project
        for project in candidates
        # Every candidate is compared, in constant time each: timing tells nothing about which.
        if hmac.compare_digest(webhook_signature(project.webhook_secret, body), f"sha256={provided[1]}")
    ]
    log = {"delivery": delivery_id, "event": event}
    if not projects:
        logger.warning("webhook.github.refused", extra=log)
        raise _unverified()
    with tenancy.dangerously_as_system():  # for the projects whose secret signed it, verified above
        outcome = _act(projects, event=event, delivery_id=delivery_id, payload=payload)
    logger.info("webhook.github.handled", extra={**log, "result": outcome.result, "runs": outcome.runs})
    return outcome


def _parse(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeper than the parser goes
        raise ApiError("the body is not valid JSON", code="webhook_body_invalid") from None
    if not isinstance(payload, dict):
        raise ApiError("the body is not a JSON object", code="webhook_body_invalid")
    return payload


def _repository_of(payload: dict) -> tuple[set[str], set[str]]:
    """Fetch URLs and display names the delivery's repository may be linked as."""
    repository = payload.get("repository")
    if not isinstance(repository, dict):
        raise _unverified()
    urls, displays = set(), set()
    clone_url, full_name = repository.get("clone_url"), repository.get("full_name")
    # clone_url first: a GitHub Enterprise or Gitea server sends its own host there, and its
    # owner/name must not select a github.com project.
    for value in (clone_url,) if isinstance(clone_url, str) else (full_name,) if isinstance(full_name, str) else ():
        try:
            repo = normalize_repository(value, resolve=False)
        except InvalidInput:
            continue
        urls.add(repo.url)
        displays.add(repo.display)
    if not urls:
        raise _unverified()
    return urls, displays


def _unverified() -> ApiError:
    # No repository, an unknown one and a wrong secret look alike: no project can verify the
    # delivery, and the answer tells a caller nothing about what is linked.
    return ApiError(
        "the signature does not match a project linked to this repository", code="webhook_signature_invalid", status_code=403
    )


def _act(projects: list[Project], *, event: str, delivery_id: str, payload: dict) -> DeliveryOutcome:
    branch = None
    if event == "push":
        ref = payload.get("ref")
        if not isinstance(ref, str) or len(ref) > 300:
            raise ApiError("a push delivery needs a ref", code="webhook_body_invalid")
        if ref.startswith("refs/heads/") and payload.get("deleted") is not True:
            try:
                branch = validate_branch(ref.removeprefix("refs/heads/"))
            except InvalidInput as exc:
                raise ApiError(f"ref: {exc}", code="webhook_body_invalid") from None
    outcome = DeliveryOutcome(event=event, delivery=delivery_id, result=Result.DUPLICATE, detail="already received")
    fresh = False
    for project in projects:
        runs = _record_and_trigger(project, event=event, delivery_id=delivery_id, branch=branch)
        if runs is None:
            continue  # this project saw this delivery before
        fresh = True
        outcome.runs += runs
    if not fresh:
        return outcome
    if event == "ping":
        outcome.result, outcome.detail = Result.PONG, "pong"
    elif outcome.runs:
        outcome.result, outcome.detail = Result.QUEUED, "sync queued (coalesced with any waiting run)"
    elif event != "push":
        outcome.result, outcome.detail = Result.IGNORED, f"{event} events are not used"
    elif branch is None:
        outcome.result, outcome.detail = Result.IGNORED, "not a branch push (a tag, or a deleted branch)"
    else:
        outcome.result, outcome.detail = Result.IGNORED, f"branch {branch!r} is not synced"
    return outcome


def _record_and_trigger(project: Project, *, event: str, delivery_id: str, branch: str | None) -> list[str] | None:
    """Record the delivery for `project` and sync the pushed branch, in one transaction: if the
    trigger fails, the delivery is not recorded and GitHub's redelivery can succeed.
    None: a replay (already recorded)."""
    from syncs.models import ProjectSync, SyncRun
    from syncs.services import sync_run_enqueue

    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(project=project, delivery_id=delivery_id, event=event)
            if branch is None:
                return []
            runs = []
            for project_sync in ProjectSync.objects.filter(project=project, branch=branch).select_related("project"):
                run, _ = sync_run_enqueue(project_sync=project_sync, trigger=SyncRun.Trigger.WEBHOOK)
                runs.append(str(run.uuid))
            return runs
    except IntegrityError:
        if WebhookDelivery.objects.filter(project=project, delivery_id=delivery_id).exists():
            return None
        raise
