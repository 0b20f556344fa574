"""A user's connection to GitHub: the OAuth token GitHub gave when they connected (stored
encrypted, never shown again) and the host it was given for. It reads what that user may read on
GitHub, and is sent to that host only (repositories.tokens)."""

from django.conf import settings
from django.db import models

from nyxsync.fields import EncryptedTextField


class GithubConnection(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="github_connection")
    login = models.CharField(max_length=100)  # the GitHub account, as GitHub spells it
    # The web host the token was given for (GITHUB_URL's at connect time): never sent elsewhere.
    host = models.CharField(max_length=253)
    token = EncryptedTextField(editable=False)
    scopes = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.login}@{self.host}"
