"""The database engine of a checkout on its embedded PostgreSQL (ENGINE "nyxsync.backends.postgresql",
set by nyxsync.embedded.postgres_settings): Django's PostgreSQL backend, which starts the embedded
server at its first connection (once per process). A DATABASE_URL uses Django's own engine."""

from django.db.backends.postgresql import base

from nyxsync import embedded


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        # The server reports its socket folder only once it runs (a deep checkout's is not the
        # data folder): the settings learn it here, so code reading HOST finds the real one.
        self.settings_dict["HOST"] = str(embedded.ensure_postgres())
        return super().get_connection_params()
