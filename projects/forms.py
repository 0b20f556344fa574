"""Forms of the project pages. Everything typed in them is hostile input: repository addresses and
branch names are checked by repositories.input, and the repository must answer with its
branches (repositories.branches) before anything is created."""

from __future__ import annotations

from django import forms

from projects.models import Membership
from repositories.branches import Branches, BranchesError, repository_branches, user_repository_branches
from repositories.input import MAX_BRANCH_BYTES, MAX_URL_LENGTH, InvalidInput, normalize_repository, validate_branch


class RepositoryLinkForm(forms.Form):
    repository = forms.CharField(
        max_length=MAX_URL_LENGTH,
        help_text="A GitHub owner/name, or a git URL.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "owner/name"}),
    )
    # Filled with the repository's branches (default first) once the repository answers. Not
    # stripped: a picker sends exact names, anything else is refused rather than repaired.
    branch = forms.CharField(max_length=MAX_BRANCH_BYTES, required=False, strip=False, widget=forms.Select)
    name = forms.CharField(max_length=100, required=False, label="Project name", help_text="Default: the repository's name.")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user  # whose GitHub connection asks for the branches
        self.branches: Branches | None = None

    def clean_repository(self) -> str:
        value = self.cleaned_data["repository"]
        try:
            normalize_repository(value)
            self.branches = user_repository_branches(self.user, value) if self.user else repository_branches(value)
        except (InvalidInput, BranchesError) as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc
        self.fields["branch"].widget.choices = [(name, name) for name in self.branches.names]
        return value

    def clean_branch(self) -> str:
        value = self.cleaned_data["branch"]
        if self.branches is None:
            return value  # the repository's own error says what to fix first
        if not value:
            raise forms.ValidationError("pick a branch", code="required")
        try:
            validate_branch(value)
        except InvalidInput as exc:
            raise forms.ValidationError(str(exc), code="invalid") from exc
        if value not in self.branches.names:
            raise forms.ValidationError(f"{self.branches.repository} has no branch {value!r}", code="unknown")
        return value


class SearchForm(forms.Form):
    q = forms.CharField(
        max_length=500,
        label="Query",
        widget=forms.TextInput(attrs={"placeholder": "what the code does, or a name  (press / to come here)", "type": "search"}),
    )
    branch = forms.ChoiceField(required=False, label="Branch")
    path = forms.CharField(
        required=False, max_length=200, label="Paths", widget=forms.TextInput(attrs={"placeholder": "e.g. src/**/*.py", "spellcheck": "false"})
    )
    language = forms.ChoiceField(required=False, label="Language")
    no_tests = forms.BooleanField(required=False, label="Leave tests out")

    def __init__(self, *args, project_syncs, languages=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.project_syncs = list(project_syncs)
        self.fields["branch"].choices = [("", "all branches"), *((project_sync.branch, project_sync.branch) for project_sync in self.project_syncs)]
        self.fields["language"].choices = [("", "any language"), *((language, language) for language in languages)]

    def selected_project_syncs(self) -> list:
        branch = self.cleaned_data.get("branch")
        return [project_sync for project_sync in self.project_syncs if not branch or project_sync.branch == branch]


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150, strip=False, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class GithubTokenForm(forms.Form):
    """Write-only: the field is never filled in with the stored token (render_value=False)."""

    token = forms.CharField(
        required=False,
        max_length=255,
        strip=False,
        label="Repository token",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="A GitHub token (or one your git host takes over HTTPS) for a private repository.",
    )
    remove = forms.BooleanField(required=False, label="Remove the token")

    def clean(self):
        data = super().clean()
        if not data.get("remove") and not data.get("token"):
            raise forms.ValidationError("enter a token, or tick the box to remove it", code="required")
        return data
