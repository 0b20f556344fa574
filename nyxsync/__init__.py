"""The foundation of nyxsync: settings, tenancy, database helpers, crypto, the domain error base.
The Celery app lives in nyxsync.celery and is imported only where tasks are sent or run."""
