"""`rotate_secrets`: re-encrypt every stored secret with the first of NYXSYNC_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand, CommandError

from projects.services import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypts every stored secret (webhook secrets, repository tokens) with the first of "
        "NYXSYNC_ENCRYPTION_KEYS, and encrypts any still in plaintext. Rotating a key: put the new key "
        "first, keep the old ones after it, run this, then remove the old keys. Safe to run again."
    )

    def handle(self, *args, **options):
        report = secrets_rotate()
        self.stdout.write(f"Re-encrypted {report.rotated} secrets; {report.current} were already under the first key.")
        if report.failed:
            raise CommandError(
                f"{report.failed} secrets cannot be decrypted with any of NYXSYNC_ENCRYPTION_KEYS and were left as they "
                "are: add back the key that encrypted them and run this again"
            )
