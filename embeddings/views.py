"""The search page: a query over a project's live snapshots (one branch or all, optionally one
path glob, one language, tests left out), its hits grouped by file (best chunk first, the others
folded under "n more in this file"), each with its path, lines, score, branch and commit (linked
to GitHub when the repository is there) and a highlighted snippet.

Chunk text is file content from a repository, hostile like any input: every piece of it is
escaped, and highlighting wraps escaped matches in <mark> (never by editing HTML)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from embeddings.backends import EmbeddingError
from embeddings.search import SearchError, search
from embeddings.selectors import live_languages
from nyxsync.api import SearchThrottle, throttle_wait
from projects.forms import SearchForm
from projects.permissions import can_view
from projects.selectors import project_get_for_user
from repositories.input import InvalidInput, normalize_repository
from syncs.selectors import project_sync_list

FILES = 10  # files shown
HITS = 50  # chunks asked for, grouped into files
SNIPPET_LINES = 12
MAX_TERMS = 12
_TERM = re.compile(r"\w{2,}")
# Words that carry no meaning of their own: a query in plain English keeps its nouns and verbs
# highlighted, not every "the" and "that" of the code.
STOP_WORDS = frozenset(
    """a about above after again all also am an and any are as at be been before being below between both but by
    can could did do does doing down during each few for from further had has have having he her here hers him
    his how i if in into is it its itself just me more most my no nor not now of off on once only or other our
    ours out over own same she should so some such than that the their theirs them then there these they this
    those through to too under until up very was we were what when where which while who whom why will with
    would you your yours""".split()
)


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
    branch_url: str | None = None
    commit_url: str | None = None


@dataclass
class FileResult:
    """The hits of one file of one branch: the best first."""

    path: str
    branch: str
    hits: list[Result] = field(default_factory=list)

    @property
    def best(self) -> Result:
        return self.hits[0]

    @property
    def more(self) -> list[Result]:
        return self.hits[1:]


def query_terms(query: str) -> list[str]:
    """Words of the query worth highlighting (two characters or more, not stop words), at most MAX_TERMS."""
    terms = [term.lower() for term in _TERM.findall(query)]
    return list(dict.fromkeys(term for term in terms if term not in STOP_WORDS))[:MAX_TERMS]


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


def github_repository_url(repository_url: str) -> str | None:
    """The repository's page on GitHub, when the branch's repository is there."""
    try:
        full_name = normalize_repository(repository_url, resolve=False).github_full_name
    except InvalidInput:
        return None
    return f"https://github.com/{full_name}" if full_name else None


def github_file_url(repository_url: str, commit: str, path: str, start: int, end: int) -> str | None:
    """The file at that commit on GitHub, when the branch's repository is on GitHub."""
    base = github_repository_url(repository_url)
    if not base or not commit:
        return None
    return f"{base}/blob/{commit}/{quote(path, safe='/')}#L{start}-L{end}"


@login_required
@require_GET
def search_page(request, project):
    project = project_get_for_user(request.user, uuid=project)
    if project is None or not can_view(request.user, project):
        raise Http404("no such project")
    project_syncs = list(project_sync_list(projects=[project]))
    form = SearchForm(request.GET or None, project_syncs=project_syncs, languages=live_languages(project_syncs=project_syncs))
    files, status, wait = None, 200, None
    if form.is_valid() and (wait := throttle_wait(SearchThrottle, request.user)) is not None:
        # Each query costs the model's time: the same per-user budget as the API's searches.
        form.add_error("q", f"Too many searches: try again in {math.ceil(wait)} s.")
        status = 429
    elif form.is_valid():
        selected = form.selected_project_syncs()
        data = form.cleaned_data
        try:
            hits = search(
                project_syncs=selected, query=data["q"], k=HITS, path_glob=data["path"] or None,
                language=data["language"] or None, exclude_tests=data["no_tests"],
            )  # fmt: skip
        except (SearchError, EmbeddingError) as exc:
            form.add_error("q", str(exc))
        else:
            files = group_by_file(_present(hits, selected, data["q"]))[:FILES]
    context = {
        "project": project,
        "form": form,
        "files": files,
        "filtered": form.is_bound and form.is_valid() and any(form.cleaned_data[name] for name in ("path", "language", "no_tests")),
        "searchable": any(project_sync.live_generation for project_sync in project_syncs),
        "branches": project_syncs,
    }
    response = render(request, "embeddings/search.html", context, status=status)
    if wait is not None:
        response["Retry-After"] = str(math.ceil(wait))
    return response


def group_by_file(results: list[Result]) -> list[FileResult]:
    """Hits of the same file (and branch) together, files in the order of their best hit."""
    files: dict[tuple[str, str], FileResult] = {}
    for result in results:
        files.setdefault((result.branch, result.path), FileResult(result.path, result.branch)).hits.append(result)
    return list(files.values())


def _present(hits, project_syncs, query: str) -> list[Result]:
    terms = query_terms(query)
    pattern = re.compile("|".join(re.escape(term) for term in sorted(terms, key=len, reverse=True)), re.IGNORECASE) if terms else None
    repositories = {project_sync.pk: github_repository_url(project_sync.repository_url) for project_sync in project_syncs}
    urls = {project_sync.pk: project_sync.repository_url for project_sync in project_syncs}
    results = []
    for hit in hits:
        base = repositories.get(hit.project_sync_id)
        results.append(
            Result(
                path=hit.path,
                start_line=hit.start_line,
                end_line=hit.end_line,
                score=hit.score,
                branch=hit.branch,
                commit=hit.commit,
                lines=snippet(hit.text, hit.start_line, pattern),
                github_url=github_file_url(urls.get(hit.project_sync_id, ""), hit.commit, hit.path, hit.start_line, hit.end_line),
                branch_url=f"{base}/tree/{quote(hit.branch, safe='')}" if base else None,
                commit_url=f"{base}/commit/{hit.commit}" if base and hit.commit else None,
            )
        )
    return results
