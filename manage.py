#!/usr/bin/env python
"""Django's command-line utility for nyxsync."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nyxsync.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.db.utils import OperationalError

    from nyxsync.embedded import ServiceError
    from nyxsync.tenancy import act_as_system_by_default

    act_as_system_by_default()  # operators on the box; commands with --as USER narrow it
    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except (ImproperlyConfigured, ServiceError, OperationalError) as exc:
        # Configuration and connection problems are the operator's to fix: one line, no traceback.
        if "--traceback" in sys.argv:
            raise
        message = " ".join(str(exc).split())
        sys.stderr.write(f"nyxsync: {type(exc).__name__}: {message}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
