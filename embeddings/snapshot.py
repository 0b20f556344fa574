"""Which manifest rows make up a snapshot.

A branch's snapshot at generation G is the set of SourceFile rows with
born_generation <= G < retired_generation (retired NULL: still current). Readers use the branch's
live_generation; a run stages G + 1 beside it, invisible until the swap moves live_generation.
Every reader goes through these helpers, so the rule lives in one place.
"""

from django.db.models import Q

# For raw SQL with the manifest aliased `f` and its ProjectSync aliased `ps`.
LIVE_FILE_SQL = (
    "f.born_generation <= ps.live_generation "
    "AND (f.retired_generation IS NULL OR f.retired_generation > ps.live_generation)"
)


def visible_at(generation: int, prefix: str = "") -> Q:
    """ORM filter for SourceFile rows (or rows reached through `prefix`, e.g. "file__") at `generation`."""
    return Q(**{f"{prefix}born_generation__lte": generation}) & (
        Q(**{f"{prefix}retired_generation__isnull": True}) | Q(**{f"{prefix}retired_generation__gt": generation})
    )

