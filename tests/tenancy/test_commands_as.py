"""Management commands given --as USER see and do only what that user may."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from projects.models import Membership, Project
from syncs.models import SyncRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("as_system")]


@pytest.fixture
def alice_project(make_repo, django_user_model, git_cache, fast_model):
    alice = django_user_model.objects.create_user("alice")
    django_user_model.objects.create_user("bob")
    repo = make_repo("shop")
    repo.write("shop/cart.py", "def add_to_cart(item):\n    return [item]\n").commit()
    out = io.StringIO()
    call_command("sync", repo=repo.url, branch="main", owner="alice", json=True, inline=True, stdout=out)
    return {"repo": repo, "alice": alice, "run": json.loads(out.getvalue())["run_id"]}


def search(*args, **options):
    out = io.StringIO()
    call_command("search", *args, json=True, stdout=out, **options)
    return json.loads(out.getvalue())


def test_search_as_the_owner_finds_and_as_a_stranger_finds_no_project(alice_project):
    assert search("add to cart", project="shop", owner="alice", as_user="alice")[0]["path"] == "shop/cart.py"
    with pytest.raises(CommandError, match="alice has no project named 'shop'"):
        search("add to cart", project="shop", owner="alice", as_user="bob")


def test_a_viewer_may_search_but_not_sync_or_cancel(alice_project, django_user_model):
    viewer = django_user_model.objects.create_user("vera")
    Membership.objects.create(project=Project.objects.get(name="shop"), user=viewer, role=Membership.Role.VIEWER)
    assert search("cart", project="shop", owner="alice", as_user="vera")
    with pytest.raises(CommandError, match="vera may not sync project 'shop'"):
        call_command("sync", repo=alice_project["repo"].url, branch="main", owner="alice", json=True, inline=True, as_user="vera")
    with pytest.raises(CommandError, match="may not cancel"):
        call_command("cancel", alice_project["run"], as_user="vera")


def test_a_viewer_asking_for_a_new_branch_is_refused_before_anything_is_linked(alice_project, django_user_model):
    project = Project.objects.get(name="shop")
    Membership.objects.create(project=project, user=django_user_model.objects.create_user("vera"), role=Membership.Role.VIEWER)

    with pytest.raises(CommandError, match="^vera may not sync project 'shop'$"):
        call_command("sync", repo=alice_project["repo"].url, branch="dev", owner="alice", json=True, inline=True, as_user="vera")

    assert list(project.syncs.values_list("branch", flat=True)) == ["main"]
    assert SyncRun.objects.count() == 1


def test_a_stranger_cannot_sync_into_or_see_runs_of_another_project(alice_project):
    with pytest.raises(CommandError, match="bob may not sync alice's projects"):
        call_command("sync", repo=alice_project["repo"].url, branch="dev", owner="alice", project="shop", json=True, inline=True, as_user="bob")
    with pytest.raises(CommandError, match="no sync run with id"):
        call_command("cancel", alice_project["run"], as_user="bob")
    assert SyncRun.objects.count() == 1 and not Project.objects.filter(owner__username="bob").exists()
