"""Every command that takes --project finds it by uuid, OWNER/NAME, or a name only one owner has."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from projects.models import Project

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]


@pytest.fixture
def eval1(make_repo, django_user_model, git_cache, fast_model):
    django_user_model.objects.create_superuser("admin", "admin@example.com", "admin-password")
    django_user_model.objects.create_user("alice")
    django_user_model.objects.create_user("bob")
    repo = make_repo("eval1")
    repo.write("ranking.py", "def rank_results(hits):\n    return sorted(hits)\n").commit()
    call_command("sync", repo=repo.url, branch="main", project="eval1", owner="alice", json=True, inline=True, stdout=io.StringIO())
    return repo


def search(project, **options):
    out = io.StringIO()
    call_command("search", "rank results", project=project, json=True, stdout=out, **options)
    return [hit["path"] for hit in json.loads(out.getvalue())]


def test_a_name_only_one_owner_has_is_found_without_its_owner(eval1):
    # Before: "admin has no project named 'eval1'" (the default owner was the first admin).
    assert search("eval1") == ["ranking.py"]


def test_owner_slash_name_and_uuid_find_the_project(eval1):
    project = Project.objects.get(name="eval1")
    assert search("alice/eval1") == ["ranking.py"]
    assert search(str(project.uuid)) == ["ranking.py"]
    assert search("eval1", owner="alice") == ["ranking.py"]


def test_a_name_several_owners_have_says_which_to_choose(eval1):
    call_command("sync", repo=eval1.url, branch="main", project="bob/eval1", json=True, inline=True, stdout=io.StringIO())
    assert Project.objects.filter(name="eval1").count() == 2
    with pytest.raises(CommandError, match=r"several projects are named 'eval1' \(alice/eval1, bob/eval1\): say which one with OWNER/eval1 or --owner"):
        search("eval1")
    assert search("bob/eval1") == ["ranking.py"]
    assert search("eval1", owner="bob") == ["ranking.py"]


def test_unknown_projects_are_one_line_each(eval1):
    with pytest.raises(CommandError, match="^no project named 'nope'$"):
        search("nope")
    with pytest.raises(CommandError, match="^alice has no project named 'nope'$"):
        search("alice/nope")
    with pytest.raises(CommandError, match="^no project with id 00000000-0000-0000-0000-000000000000$"):
        search("00000000-0000-0000-0000-000000000000")


def test_a_user_acting_for_themselves_finds_only_their_own_projects(eval1):
    assert search("eval1", as_user="alice") == ["ranking.py"]
    with pytest.raises(CommandError, match="^no project named 'eval1'$"):
        search("eval1", as_user="bob")
    with pytest.raises(CommandError, match="^no project with id"):
        search(str(Project.objects.get(name="eval1").uuid), as_user="bob")


def test_sync_backfill_and_reembed_take_the_same_forms(eval1):
    project = Project.objects.get(name="eval1")
    out = io.StringIO()
    call_command("sync", repo=eval1.url, branch="main", project=str(project.uuid), json=True, inline=True, stdout=out)
    assert json.loads(out.getvalue())["status"] == "up_to_date"
    assert Project.objects.filter(name="eval1").count() == 1  # the same project, not a new one

    out = io.StringIO()
    call_command("backfill", project="alice/eval1", dry_run=True, stdout=out)
    assert out.getvalue().startswith("Missing vectors:")

    out = io.StringIO()
    call_command("reembed", project="eval1", model="hashing-256", stdout=out)
    assert "re-embed to hashing-256" in out.getvalue()
