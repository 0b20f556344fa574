# Existing project tokens are bound to the host of their project's repository (owner/name:
# github.com), which is where they were meant to go. Batched, re-runnable, atomic=False.
from urllib.parse import urlsplit

from django.db import migrations

BATCH = 500


def _host(repository: str) -> str:
    if "://" in repository:
        return (urlsplit(repository).hostname or "").lower()
    return "github.com" if repository.count("/") == 1 else ""


def bind(apps, schema_editor):
    Project = apps.get_model("projects", "Project")
    rows = Project.objects.filter(github_token__isnull=False, github_token_host="").order_by("pk")
    last = 0
    while chunk := list(rows.filter(pk__gt=last).values_list("pk", "repository")[:BATCH]):
        last = chunk[-1][0]
        for pk, repository in chunk:
            Project.objects.filter(pk=pk, github_token_host="").update(github_token_host=_host(repository))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("projects", "0006_project_github_token_host")]

    operations = [migrations.RunPython(bind, migrations.RunPython.noop, elidable=True)]
