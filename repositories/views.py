"""The user's own page and their GitHub connection: connect (the OAuth web flow, `state` kept in
the session and checked by repositories.github_oauth), disconnect, and the repository picker's
JSON (the repositories the connection can read)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from repositories import github, github_oauth
from repositories.connections import github_connection_of, github_connection_remove, github_connection_save

STATE_KEY = "github_oauth_state"
NEXT_KEY = "github_oauth_next"


def _callback_url(request) -> str:
    return request.build_absolute_uri(reverse("github_callback"))


@login_required
@require_GET
def account(request):
    context = {"connection": github_connection_of(request.user), "oauth_configured": github_oauth.configured()}
    return render(request, "repositories/account.html", context)


@login_required
@require_GET
def github_connect(request):
    """Off to GitHub's consent page. A link, not a form: the pages' CSP (form-action 'self')
    would stop a form's redirect to another host. A connection started from elsewhere is
    harmless: it can only connect the account that approves it, and only for this session's state."""
    try:
        url, state = github_oauth.authorization_url(_callback_url(request))
    except github_oauth.OAuthError as exc:
        messages.error(request, str(exc))
        return redirect("account")
    request.session[STATE_KEY] = state
    following = request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(following, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        request.session[NEXT_KEY] = following
    return redirect(url)


@login_required
@require_GET
def github_callback(request):
    state = request.session.pop(STATE_KEY, None)  # one answer per Connect
    following = request.session.pop(NEXT_KEY, None) or reverse("account")
    if "error" in request.GET:
        messages.error(request, f"GitHub did not connect: {request.GET.get('error_description') or request.GET['error']}"[:300])
        return redirect("account")
    try:
        token, scopes = github_oauth.exchange(redirect_uri=_callback_url(request), callback_url=request.build_absolute_uri(), state=state)
        connection = github_connection_save(user=request.user, token=token, scopes=scopes)
    except (github_oauth.OAuthError, github.GithubAccessError) as exc:
        messages.error(request, str(exc))
        return redirect("account")
    messages.success(request, f"Connected to GitHub as {connection.login}.")
    return redirect(following)


@login_required
@require_POST
def github_disconnect(request):
    if github_connection_remove(user=request.user):
        messages.success(request, "GitHub disconnected: nyxsync no longer uses that token. Projects it linked fetch without it from now on.")
    return redirect("account")


@login_required
@require_GET
def github_repositories(request):
    """The picker: `?q=` (in the name) and `?page=` of the repositories the connection can read."""
    connection = github_connection_of(request.user)
    if connection is None:
        return JsonResponse({"error": "connect GitHub first (your account page)", "connected": False}, status=400)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        page = 1
    query = request.GET.get("q", "").strip()[:100]
    try:
        found = github.user_repositories(connection.token, query=query, page=page)
    except github.GithubAccessError as exc:
        return JsonResponse({"error": str(exc), "connected": True}, status=502)
    return JsonResponse({
        "connected": True,
        "login": connection.login,
        "page": found.page,
        "pages": found.pages,
        "total": found.total,
        "repositories": [
            {"full_name": repo.full_name, "private": repo.private, "default_branch": repo.default_branch, "description": repo.description}
            for repo in found.repositories
        ],
    })
