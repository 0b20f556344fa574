"""Live-progress channel permissions (django-eventstream): `project-<uuid>` for people who may see
that project, `operators` (every tenant's runs) for active superusers only. Anything else is
refused. Asked at connect and again at each keep-alive (nyxsync.streams)."""

from django_eventstream.channelmanager import DefaultChannelManager

from syncs.events import OPERATORS_CHANNEL


class ChannelManager(DefaultChannelManager):
    def can_read_channel(self, user, channel):
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if channel == OPERATORS_CHANNEL:
            return user.is_superuser
        if channel.startswith("project-"):
            from nyxsync import tenancy
            from projects.selectors import project_get_for_user

            # The stream asks from threads of its own, outside the request's scope: say for whom.
            with tenancy.acting_as(user):
                return project_get_for_user(user, uuid=channel.removeprefix("project-")) is not None
        return False
