"""`ensure_admin`: create the first admin user if there is none (make run calls it)."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from environ import Env


class Command(BaseCommand):
    help = (
        "Creates a superuser if none exists: NYXSYNC_ADMIN_USERNAME / NYXSYNC_ADMIN_PASSWORD / "
        "NYXSYNC_ADMIN_EMAIL, or 'admin' with a generated password, printed once and kept in "
        "NYXSYNC_HOME/admin-password."
    )

    def handle(self, *args, **options):
        env = Env()
        users = get_user_model()
        password_file = settings.NYXSYNC_HOME / "admin-password"
        existing = users.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            where = f" (password in {password_file})" if password_file.exists() else ""
            self.stdout.write(f"Admin user: {existing.get_username()}{where}")
            return

        username = env.str("NYXSYNC_ADMIN_USERNAME", default="admin")
        password = env.str("NYXSYNC_ADMIN_PASSWORD", default="")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        users.objects.create_superuser(username, env.str("NYXSYNC_ADMIN_EMAIL", default="admin@localhost"), password)
        if generated:
            password_file.write_text(f"{username}\n{password}\n")
            password_file.chmod(0o600)
            self.stdout.write(
                f"Created admin user {username!r} with password {password!r} (kept in {password_file})."
            )
        else:
            self.stdout.write(f"Created admin user {username!r} with the password from NYXSYNC_ADMIN_PASSWORD.")
