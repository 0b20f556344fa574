"""System checks (run by `manage.py check` in CI): no unmarked destructive migration on disk, and
no model change without its migration. Django's migration loader and autodetector are imported
when a check runs, not when the checks are registered: every process registers them (setup),
few run them, and the import is tens of ms of every `manage.py` and worker start."""

from __future__ import annotations

from django.apps import apps
from django.core.checks import Error, register


@register("migrations")
def check_destructive_migrations(app_configs, **kwargs):
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    from embeddings import guard

    loader = MigrationLoader(None, ignore_no_migrations=True)
    state = ProjectState(real_apps=loader.unmigrated_apps)
    errors = []
    for key in _all_in_order(loader):
        migration = loader.graph.nodes[key]
        if not guard.is_allowed(migration):
            for hazard in guard.migration_hazards(migration, state):
                errors.append(
                    Error(
                        f"{hazard.migration} would {hazard.action}.",
                        hint=f'If deliberate, add `{guard.ALLOW_ATTRIBUTE} = "<why>"` to the migration.',
                        id="nyxsync.E001",
                    )
                )
        state = migration.mutate_state(state, preserve=False)
    return errors


@register("migrations")
def check_models_match_migrations(app_configs, **kwargs):
    from django.db.migrations.autodetector import MigrationAutodetector
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.questioner import MigrationQuestioner
    from django.db.migrations.state import ProjectState

    loader = MigrationLoader(None, ignore_no_migrations=True)
    local = [config.label for config in apps.get_app_configs() if config.name in ("projects", "syncs", "embeddings", "nyxsync")]
    detector = MigrationAutodetector(
        loader.project_state(),
        ProjectState.from_apps(apps),
        # The base questioner answers every question with its default; the non-interactive one exits.
        MigrationQuestioner(specified_apps=set(local), dry_run=True),
    )
    changes = detector.changes(graph=loader.graph, trim_to_apps=set(local))
    return [
        Error(
            f"models of app {label!r} have changes that are not in a migration.",
            hint="Run `manage.py makemigrations` and commit the migration.",
            id="nyxsync.E002",
        )
        for label in sorted(changes)
    ]


def _all_in_order(loader) -> list[tuple[str, str]]:
    seen, ordered = set(), []
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                ordered.append(key)
    return ordered
