"""Template filters of the pages: the same words live.js writes, so a live page and a reload read
alike."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(moment: datetime | None) -> str:
    """'just now' within a minute (what live.js writes when a run starts), else '5 minutes ago'."""
    if not moment:
        return "never"
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def seconds(value: float | None) -> str:
    """A duration in seconds as people read it: '0.4 s', '12 s', '3 min 5 s'."""
    if value is None:
        return "—"
    if value < 10:
        return f"{value:.1f} s"
    value = round(value)
    if value < 60:
        return f"{value} s"
    if value < 3600:
        return f"{value // 60} min {value % 60} s"
    return f"{value // 3600} h {value % 3600 // 60} min"
