"""The search page: a query over a project's live snapshots (one branch or all), showing each chunk
with its path, lines, score and a highlighted snippet.

Chunk text is file content from a repository, hostile like any input: every piece of it is
escaped, and highlighting wraps escaped matches in <mark> (never by editing HTML)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from embeddings.backends import EmbeddingError
from embeddings.search import SearchError, search
from projects.forms import SearchForm
from projects.permissions import can_view
from projects.selectors import project_get_for_user
from repositories.input import InvalidInput, normalize_repository
from syncs.selectors import project_syncs_of

RESULTS = 10
SNIPPET_LINES = 12
MAX_TERMS = 12
_TERM = re.compile(r"\w{2,}")


@dataclass(frozen=True)
class SnippetLine:
    number: int
    html: SafeString


@dataclass(frozen=True)
class Result:
    path: str
    start_line: int
    end_line: int
    score: float
    branch: str
    commit: str
    lines: list[SnippetLine]
    github_url: str | None


def query_terms(query: str) -> list[str]:
    """Words of the query worth highlighting (two characters or more), at most MAX_TERMS."""
    terms = list(dict.fromkeys(term.lower() for term in _TERM.findall(query)))
    return terms[:MAX_TERMS]


def highlight(text: str, pattern: re.Pattern | None) -> SafeString:
    if pattern is None:
        return escape(text)
    parts, position = [], 0
    for match in pattern.finditer(text):
        parts.append(escape(text[position : match.start()]))
        parts.append(format_html("<mark>{}</mark>", match.group()))
        position = match.end()
    parts.append(escape(text[position:]))
    return mark_safe("".join(parts))  # every part above is escaped


def snippet(text: str, start_line: int, pattern: re.Pattern | None) -> list[SnippetLine]:
    """Up to SNIPPET_LINES lines of the chunk, starting a little above its first match."""
    lines = text.split("\n")
    first = next((index for index, line in enumerate(lines) if pattern and pattern.search(line)), 0)
    begin = max(0, min(first - 3, len(lines) - SNIPPET_LINES))
    return [SnippetLine(start_line + index, highlight(line, pattern)) for index, line in enumerate(lines[begin : begin + SNIPPET_LINES], begin)]


def github_file_url(repository_url: str, commit: str, path: str, start: int, end: int) -> str | None:
    """The file at that commit on GitHub, when the branch's repository is on GitHub."""
    try:
        full_name = normalize_repository(repository_url, resolve=False).github_full_name
    except InvalidInput:
        return None
    if not full_name or not commit:
        return None
    return f"https://github.com/{full_name}/blob/{commit}/{quote(path, safe='/')}#L{start}-L{end}"


@login_required
@require_GET
def search_page(request, project):
    project = project_get_for_user(request.user, uuid=project)
    if project is None or not can_view(request.user, project):
        raise Http404("no such project")
    form = SearchForm(request.GET or None, project_syncs=project_syncs_of(project))
    results = None
    if form.is_valid():
        syncs = form.selected_syncs()
        try:
            hits = search(project_syncs=syncs, query=form.cleaned_data["q"], k=RESULTS)
        except (SearchError, EmbeddingError) as exc:
            form.add_error("q", str(exc))
        else:
            results = _present(hits, syncs, form.cleaned_data["q"])
    context = {"project": project, "form": form, "results": results, "searchable": any(s.live_generation for s in form.project_syncs)}
    return render(request, "embeddings/search.html", context)


def _present(hits, syncs, query: str) -> list[Result]:
    terms = query_terms(query)
    pattern = re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE) if terms else None
    urls = {sync.pk: sync.repository_url for sync in syncs}
    return [
        Result(
            path=hit.path,
            start_line=hit.start_line,
            end_line=hit.end_line,
            score=hit.score,
            branch=hit.branch,
            commit=hit.commit,
            lines=snippet(hit.text, hit.start_line, pattern),
            github_url=github_file_url(urls.get(hit.project_sync_id, ""), hit.commit, hit.path, hit.start_line, hit.end_line),
        )
        for hit in hits
    ]
