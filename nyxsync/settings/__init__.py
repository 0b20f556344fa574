"""Settings, all from the environment (see README). `test.py` holds the test suite's overrides."""

from .base import *  # noqa: F401,F403
