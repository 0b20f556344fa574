"""The OAuth web flow of "Connect GitHub" (a GitHub OAuth App), by authlib: the authorization URL
with a fresh `state`, and the exchange of the callback's code for a token, which authlib does
only when the callback's `state` is the one this session was given (else MismatchingState)."""

from __future__ import annotations

from django.conf import settings

from repositories.input import InvalidInput

SCOPE = "repo read:user"  # private repositories need "repo"; GitHub has no read-only scope for them
TIMEOUT_SECONDS = 15


class OAuthError(InvalidInput):
    """The flow failed; one line for the person connecting."""


def configured() -> bool:
    return bool(settings.GITHUB_OAUTH_CLIENT_ID and settings.GITHUB_OAUTH_CLIENT_SECRET)


def _session(redirect_uri: str, state: str | None = None):
    from authlib.integrations.requests_client import OAuth2Session

    return OAuth2Session(
        settings.GITHUB_OAUTH_CLIENT_ID,
        settings.GITHUB_OAUTH_CLIENT_SECRET,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        state=state,
        # GitHub documents the client's id and secret as form fields of the token request.
        token_endpoint_auth_method="client_secret_post",
    )


def authorization_url(redirect_uri: str) -> tuple[str, str]:
    """(GitHub's consent page to send the user to, the state to keep in their session)."""
    if not configured():
        raise OAuthError("GitHub connections are not set up here (GITHUB_OAUTH_CLIENT_ID and GITHUB_OAUTH_CLIENT_SECRET)")
    session = _session(redirect_uri)
    try:
        return session.create_authorization_url(f"{settings.GITHUB_URL}/login/oauth/authorize")
    finally:
        session.close()


def exchange(*, redirect_uri: str, callback_url: str, state: str | None) -> tuple[str, str]:
    """(access token, granted scopes) for the callback `callback_url`, whose state must be `state`."""
    from authlib.integrations.base_client.errors import OAuthError as AuthlibError
    from authlib.oauth2.rfc6749.errors import OAuth2Error

    if not state:
        raise OAuthError("this GitHub answer belongs to no connection started here: press Connect GitHub again")
    session = _session(redirect_uri, state=state)
    try:
        token = session.fetch_token(
            f"{settings.GITHUB_URL}/login/oauth/access_token", authorization_response=callback_url, timeout=TIMEOUT_SECONDS
        )
    except OAuth2Error as exc:
        if exc.error == "mismatching_state":
            raise OAuthError("this GitHub answer belongs to another connection attempt: press Connect GitHub again") from exc
        raise OAuthError(f"GitHub refused the connection ({exc.error})") from exc
    except AuthlibError as exc:
        raise OAuthError(f"GitHub refused the connection ({exc.error})") from exc
    except OSError as exc:
        raise OAuthError(f"GitHub is not reachable ({type(exc).__name__})") from exc
    finally:
        session.close()
    if token.get("error") or not token.get("access_token"):
        raise OAuthError(f"GitHub refused the connection ({token.get('error') or 'no token'})")
    return token["access_token"], token.get("scope", "")
