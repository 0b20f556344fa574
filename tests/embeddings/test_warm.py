"""A web process loads the default model before it answers anyone: the first search after a
start does not wait for it (bench/search_api.py times that first search)."""

import os
import subprocess
import sys

from django.conf import settings

PROBE = "import nyxsync.asgi; from embeddings.backends import _backends; print(sorted(_backends))"


def loaded_after_import(**env) -> str:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "nyxsync.settings", "NYXSYNC_EMBEDDING_MODEL": "hashing-256", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_the_web_application_loads_the_default_model_as_it_is_imported():
    assert loaded_after_import(NYXSYNC_WARM_MODEL_ON_START="true") == "['hashing-256']"
    assert loaded_after_import(NYXSYNC_WARM_MODEL_ON_START="false") == "[]"
