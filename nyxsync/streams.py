"""Live streams (Server-Sent Events through django-eventstream) that hold nothing while they wait.

A stream waits for hours on Redis; it must hold nothing else meanwhile. So each one
- is allowed only within bounds: NYXSYNC_STREAMS_PER_USER open streams per user (429 past it) and
  NYXSYNC_STREAMS_MAX per web process (503 past it), counted here and freed when it ends;
- closes the database connection of its request's thread after every piece it sends (the
  permission check and django-eventstream's catch-up read it; nothing else needs it while the
  stream waits), so a burst of streams never takes connections from searches;
- checks again every NYXSYNC_STREAM_RECHECK_SECONDS that its user may still read every channel
  (removed from the project, deactivated, project deleted: the stream ends with a `stream-error`
  event, and the page's reconnect gets 403).
django-eventstream's `es-meta` parameter (a signed override of user and channels) is refused.
Who may read which channel is the channel manager's to say (EVENTSTREAM_CHANNELMANAGER_CLASS).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django_eventstream.utils import get_channelmanager, sse_encode_error
from django_eventstream.views import events as eventstream_events

from nyxsync.api_auth import user_for_token


class StreamSlots:
    """Open streams of this process, per user and in all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._per_user: dict[int, int] = {}

    def take(self, user_id: int) -> HttpResponse | None:
        """None when a slot was taken (release it with `give_back`), else the refusal to send."""
        with self._lock:
            if sum(self._per_user.values()) >= settings.NYXSYNC_STREAMS_MAX:
                return _refused(503, "too many live streams on this server; try again shortly")
            if self._per_user.get(user_id, 0) >= settings.NYXSYNC_STREAMS_PER_USER:
                return _refused(429, f"at most {settings.NYXSYNC_STREAMS_PER_USER} live streams per user; close another tab")
            self._per_user[user_id] = self._per_user.get(user_id, 0) + 1
        return None

    def give_back(self, user_id: int) -> None:
        with self._lock:
            left = self._per_user.get(user_id, 0) - 1
            if left > 0:
                self._per_user[user_id] = left
            else:
                self._per_user.pop(user_id, None)


slots = StreamSlots()


def _refused(status: int, message: str) -> HttpResponse:
    response = HttpResponse(f"{message}\n", status=status, content_type="text/plain")
    response["Retry-After"] = "5"
    return response


@dataclass
class _Reader:
    user: object
    channels: list[str]

    def may_read(self) -> bool:
        manager = get_channelmanager()
        return all(manager.can_read_channel(self.user, channel) for channel in self.channels)

    def may_still_read(self) -> bool:
        """Asked again from the database: the user as it is now (active?) and its projects."""
        fresh = get_user_model().objects.filter(pk=self.user.pk).first()
        try:
            return fresh is not None and fresh.is_active and _Reader(fresh, self.channels).may_read()
        finally:
            _close_connection()


def _close_connection() -> None:
    """Close this thread's database connection unless a transaction needs it."""
    if not connection.in_atomic_block:
        connection.close()


def bounded_stream(request, channels: list[str]) -> HttpResponse:
    """The stream of `channels` for the request's user: 403 unless the user may read every one."""
    if "es-meta" in request.GET:
        return HttpResponseBadRequest("es-meta is not accepted here\n")
    try:
        user = _reader_of(request)
        if user is None:
            return HttpResponse("the API token is unknown, expired or revoked\n", status=401, content_type="text/plain")
        request.user = user  # django-eventstream asks its channel manager for request.user too
        reader = _Reader(user, channels)
        allowed = user.is_authenticated and reader.may_read()
    finally:
        _close_connection()
    if not allowed:
        return HttpResponseForbidden("forbidden\n", content_type="text/plain")
    refusal = slots.take(user.pk)
    if refusal is not None:
        return refusal
    try:
        response = eventstream_events(request, channels=channels)
    except BaseException:
        slots.give_back(user.pk)
        raise
    if not response.streaming:  # django-eventstream answered at once (a bad request)
        slots.give_back(user.pk)
        return response
    response.streaming_content = _held_lightly(response.streaming_content, reader, user.pk)
    return response


def _reader_of(request):
    """The user of an API token sent as `Authorization: Token <key>` or `Bearer <key>` (an
    integration's SSE client, with the key of the REST API and MCP, checked as at those doors), else
    the session's user (a page's EventSource); None for a token that fits no active user."""
    scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() not in ("token", "bearer"):
        return request.user
    return user_for_token(key.strip())


async def _held_lightly(inner, reader: _Reader, user_id: int):
    """Pass on what django-eventstream sends, closing the request thread's database connection
    after each piece, and every NYXSYNC_STREAM_RECHECK_SECONDS (waiting or not) ask again whether
    the reader may still read: if not, one error event ends the stream."""
    close = sync_to_async(_close_connection)
    still_allowed = sync_to_async(reader.may_still_read)
    pending = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(inner.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=settings.NYXSYNC_STREAM_RECHECK_SECONDS)
            if done:
                try:
                    piece = pending.result()
                except StopAsyncIteration:
                    return
                finally:
                    pending = None
                await close()
                yield piece
            elif not await still_allowed():
                yield sse_encode_error("forbidden", "you may no longer read this stream", extra={"channels": reader.channels})
                return
    finally:
        if pending is not None:  # the reader left while we waited: stop django-eventstream's wait first
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await inner.aclose()
        slots.give_back(user_id)
        await close()
