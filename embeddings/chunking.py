"""Code-aware chunking: a file's text becomes chunks that fit the embedding model, with exact line ranges.

Conventions the pipeline and search rely on:
- Lines are split on "\\n", "\\r\\n" and "\\r" (universal newlines), numbered from 1.
- A chunk's text is the lines start_line..end_line joined with "\\n", without a trailing newline, so
  a CRLF file and its LF twin share chunks. It never starts or ends with a blank line. The text is
  the file's content only, never its path: identical content anywhere (another file, branch or
  project) has the same content_hash and reuses the stored vector. content_hash is the SHA-256 of
  the text in UTF-8 (lone surrogates, left by a surrogateescape decoding, encoded "surrogatepass").
- A line longer than max_chars (minified code, data) is cut into pieces on that line
  (start_line == end_line); each piece is a slice of the line, in order, and pieces that would be
  whitespace only are dropped.
- Every non-blank line is in exactly one chunk; blank lines between chunks are in none.
- len(chunk.text) <= max_chars: all-MiniLM-L6-v2 reads 256 tokens, about 1,000 characters of code.

Boundaries stay put when a neighbouring function changes, because every decision is local:
1. Structure first. A range that does not fit is cut at its most significant "starters": for code
   the least-indented lines that open a sibling (after a blank line, a dedent or a closing
   bracket; decorators, annotations and leading comments stay with what follows; lines inside
   multi-line strings and comments never start anything); for Markdown and reStructuredText the
   highest headings. Pieces that still do not fit are cut the same way one level deeper (methods of
   a big class), then at blank lines, then at lines, then a single line at characters.
2. Packing. Siblings that fit are packed together, and where a chunk ends depends on the siblings'
   own content: one whose strength (its share of a chunk over a draw from its first line's hash)
   reaches the anchor level always starts a chunk, and a chunk that would overflow ends at the
   strongest boundary in its last 30%, not right after the last sibling that fits. An edit thus
   moves boundaries only until the same boundary is found again, usually by the next chunk;
   "fill to the limit, then cut" would shift every boundary after it.
3. Leftovers under a quarter of the limit (a lone "}", an import block) join a neighbour when the
   result fits: the one below if they end like a header, decorator or comment, else the one above.
"""

import hashlib
import itertools
import re
import zlib
from dataclasses import dataclass

from embeddings.languages import language_for

DEFAULT_MAX_CHARS = 1000

# Past this depth of nested structure (hostile input: a staircase of indents) cut at blank lines
# and lines only, so recursion stays shallow.
_MAX_STRUCTURE_DEPTH = 24
# A sibling at least this strong (see `_strength`) starts a chunk: with probability size / (2 * max).
_ANCHOR = 2.0
# A chunk that would overflow ends at the strongest boundary past this share of the limit.
_FILL = 0.7
# A chunk smaller than max_chars // _TINY_DIVISOR is merged into a neighbour when it fits.
_TINY_DIVISOR = 4


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    start_line: int
    end_line: int
    text: str
    content_hash: str


def chunk_text(path: str, text: str, *, max_chars: int = DEFAULT_MAX_CHARS) -> list[Chunk]:
    """The chunks of one file, in file order; [] for an empty or whitespace-only text."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be positive, got {max_chars!r}")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    splitter = _Splitter(lines, language_for(path), max_chars)
    chunks = []
    for ordinal, (first, last, span) in enumerate(splitter.pieces()):
        if span is None:
            piece = "\n".join(lines[first : last + 1])
        else:
            piece = lines[first][span[0] : span[1]]
        digest = hashlib.sha256(_utf8(piece)).hexdigest()
        chunks.append(Chunk(ordinal, first + 1, last + 1, piece, digest))
    return chunks


def _utf8(text: str) -> bytes:
    # Lone surrogates (a caller's surrogateescape decoding) must hash, not raise.
    return text.encode("utf-8", "surrogatepass")


# A piece: (first line, last line, None) for whole lines, (line, line, (start, end)) for a slice.
_Piece = tuple[int, int, tuple[int, int] | None]


class _Splitter:
    def __init__(self, lines: list[str], language: str, max_chars: int) -> None:
        self.lines = lines
        self.language = language
        self.max = max_chars
        self.blank = [not line.strip() for line in lines]
        # ends[i]: characters in lines[:i], newlines excluded.
        self.ends = [0, *itertools.accumulate(map(len, lines))]
        self._levels: list[int | None] | None = None

    def size(self, first: int, last: int) -> int:
        return self.ends[last + 1] - self.ends[first] + (last - first)

    def pieces(self) -> list[_Piece]:
        filled = [i for i, blank in enumerate(self.blank) if not blank]
        if not filled:
            return []
        return self._merge_tiny(self._split(filled[0], filled[-1], 0))

    def _split(self, first: int, last: int, depth: int) -> list[_Piece]:
        if self.size(first, last) <= self.max:
            return [(first, last, None)]
        if depth < _MAX_STRUCTURE_DEPTH:
            units = self._structure(first, last)
            if len(units) > 1:
                return self._pack(units, depth + 1)
        for cutter in (self._blocks, self._single_lines):
            units = cutter(first, last)
            if len(units) > 1:
                return self._pack(units, _MAX_STRUCTURE_DEPTH)
        return self._slices(first)

    def _structure(self, first: int, last: int) -> list[tuple[int, int]]:
        levels = self.levels
        top = min((levels[i] for i in range(first + 1, last + 1) if levels[i] is not None), default=None)
        if top is None:
            return []
        return self._cut(first, last, [i for i in range(first + 1, last + 1) if levels[i] == top])

    def _blocks(self, first: int, last: int) -> list[tuple[int, int]]:
        blank = self.blank
        return self._cut(first, last, [i for i in range(first + 1, last + 1) if blank[i - 1] and not blank[i]])

    def _single_lines(self, first: int, last: int) -> list[tuple[int, int]]:
        return [(i, i) for i in range(first, last + 1) if not self.blank[i]]

    def _cut(self, first: int, last: int, starts: list[int]) -> list[tuple[int, int]]:
        units = []
        for start, end in zip([first, *starts], [*starts, last + 1], strict=True):
            end -= 1
            while self.blank[end]:
                end -= 1
            units.append((start, end))
        return units

    def _pack(self, units: list[tuple[int, int]], depth: int) -> list[_Piece]:
        out: list[_Piece] = []
        run: list[tuple[int, int]] = []
        for first, last in units:
            if self.size(first, last) > self.max:
                out.extend(self._pack_run(run))
                run = []
                out.extend(self._split(first, last, depth))
            else:
                run.append((first, last))
        out.extend(self._pack_run(run))
        return out

    def _pack_run(self, run: list[tuple[int, int]]) -> list[_Piece]:
        """Siblings that each fit, packed into chunks (see the module docstring, 2.)."""
        strengths = [self._strength(first, last) for first, last in run]
        pieces: list[_Piece] = []
        i = 0
        while i < len(run):
            start = run[i][0]
            j = i + 1
            while j < len(run) and strengths[j] < _ANCHOR and self.size(start, run[j][1]) <= self.max:
                j += 1
            if j < len(run) and strengths[j] < _ANCHOR:
                tail = [k for k in range(i + 1, j) if self.size(start, run[k - 1][1]) >= self.max * _FILL]
                j = max(tail, key=lambda k: (strengths[k], k), default=j)
            pieces.append((start, run[j - 1][1], None))
            i = j
        return pieces

    def _strength(self, first: int, last: int) -> float:
        # Its share of a chunk, divided by a draw from its first line's hash in (0, 1]: reaching
        # _ANCHOR has probability size / (_ANCHOR * max_chars), whatever the neighbours.
        draw = (zlib.crc32(_utf8(self.lines[first])) + 1) / 0x1_0000_0000
        return self.size(first, last) / self.max / draw

    def _slices(self, line_no: int) -> list[_Piece]:
        line, limit = self.lines[line_no], self.max
        spans, pos = [], 0
        while len(line) - pos > limit:
            cut = _slice_end(line, pos, limit)
            spans.append((pos, cut))
            pos = cut
        spans.append((pos, len(line)))
        return [(line_no, line_no, (a, b)) for a, b in spans if line[a:b].strip()]

    def _merge_tiny(self, pieces: list[_Piece]) -> list[_Piece]:
        tiny = self.max // _TINY_DIVISOR
        out: list[_Piece] = []
        pieces = list(pieces)
        for i, (first, last, span) in enumerate(pieces):
            if span is None and self.size(first, last) < tiny:
                before = out[-1] if out and out[-1][2] is None else None
                after = pieces[i + 1] if i + 1 < len(pieces) and pieces[i + 1][2] is None else None
                order = ("after", "before") if self._opens(last) else ("before", "after")
                for side in order:
                    if side == "before" and before and self.size(before[0], last) <= self.max:
                        out[-1] = (before[0], last, None)
                        break
                    if side == "after" and after and self.size(first, after[1]) <= self.max:
                        pieces[i + 1] = (first, after[1], None)
                        break
                else:
                    out.append((first, last, None))
            else:
                out.append((first, last, span))
        return out

    def _opens(self, line_no: int) -> bool:
        # A tiny piece ending in a header, decorator or comment belongs with what follows it.
        line = self.lines[line_no].strip()
        return line.endswith(_OPENERS) or line.startswith(_PREFIXES) or line.startswith(_note_prefixes(self.language))

    @property
    def levels(self) -> list[int | None]:
        if self._levels is None:
            if self.language == "markdown":
                self._levels = _markdown_levels(self.lines)
            elif self.language == "rst":
                self._levels = _rst_levels(self.lines)
            else:
                self._levels = _code_levels(self.lines, self.language, self.blank)
        return self._levels


_OPENERS = (":", "{", "(", "[", ",", "=", "\\", "=>", "->")
_PREFIXES = ("@", "#[")
_DELIMITER = re.compile(r"[\s;,{}()\[\]]+")


def _slice_end(line: str, pos: int, limit: int) -> int:
    """Where to end a slice of an over-long line that starts at pos.

    Cut after a delimiter in the last quarter of the window, the first one whose preceding
    characters hash to 0 mod 8: that choice depends on content, not on pos, so slices realign
    after an insertion. Otherwise after the last delimiter, otherwise at the limit.
    """
    end = pos + limit
    fallback = end
    for match in _DELIMITER.finditer(line, pos + max(1, limit * 3 // 4), end):
        cut = match.end()
        if zlib.crc32(_utf8(line[max(0, cut - 8) : cut])) % 8 == 0:
            return cut
        fallback = cut
    return fallback


# --- Structure of code: starters by indentation ------------------------------------------------

# Multi-line strings and comments, per family: a line that starts inside one starts nothing.
# Each alternative consumes every character up to its end (or the end of the text), so a match
# never backtracks, whatever the input.
_SINGLE_QUOTED = r'"(?:[^"\\\n]|\\[\s\S]?)*"?' + r"|'(?:[^'\\\n]|\\[\s\S]?)*'?"
_BLOCK_COMMENT = r"/\*(?:[^*]|\*(?!/))*(?:\*/|\Z)"
_SCANNERS = {
    "python": re.compile(
        r"#[^\n]*"
        r'|"""(?:[^"\\]|\\[\s\S]?|"(?!""))*(?:"""|\Z)'
        r"|'''(?:[^'\\]|\\[\s\S]?|'(?!''))*(?:'''|\Z)"
        r"|" + _SINGLE_QUOTED
    ),
    "c": re.compile(r"//[^\n]*|" + _BLOCK_COMMENT + "|" + _SINGLE_QUOTED + r"|`(?:[^`\\]|\\[\s\S]?)*`?"),
    "sql": re.compile(r"--[^\n]*|" + _BLOCK_COMMENT + r"|'(?:[^'\n]|'')*'?"),
    "xml": re.compile(r"<!--(?:[^-]|-(?!->))*(?:-->|\Z)"),
}
# Per family, what a match spanning lines must hold on its first line: its opening, or a line's
# last character escaping the newline (see _inside_lines).
_SPANNERS = {
    "python": re.compile(r"\"\"\"|'''|\\$", re.M),
    "c": re.compile(r"/\*|`|\\$", re.M),
    "sql": re.compile(r"/\*"),
    "xml": re.compile(r"<!--"),
}
# Per language: its scanner, and the prefixes of "notes", lines that describe or condition the code
# below them (comments, preprocessor directives, attributes): they go with that code.
_C_NOTES = ("//", "/*")
_FAMILIES = {
    "python": ("python", ("#",)),
    "sql": ("sql", ("--", "/*")),
    "lua": ("sql", ("--",)),
    "haskell": ("sql", ("--",)),
    "xml": ("xml", ("<!--",)),
    "html": ("xml", ("<!--",)),
    **{
        language: ("c", _C_NOTES)
        for language in "javascript typescript go java kotlin scala swift dart php css protobuf".split()
    },
    **{language: ("c", (*_C_NOTES, "#")) for language in "c cpp objc csharp rust".split()},
    **{
        language: (None, ("#",))
        for language in "ruby perl r julia elixir shell powershell yaml toml make dockerfile cmake terraform graphql".split()
    },
    "ini": (None, ("#", ";")),
    "erlang": (None, ("%",)),
}

# A line starting with one of these continues the statement above it: it never starts a chunk.
_CLOSERS = (")", "]", "}", "</")
_CONTINUING = (*_CLOSERS, "{", "#el", "#endif")
_CONTINUING_WORDS = frozenset(
    "else elif elsif except finally catch rescue ensure end endif endfor endwhile fi done esac then".split()
)
_CLOSING_WORDS = frozenset("end endif endfor endwhile fi done esac".split())
_WORD = re.compile(r"[A-Za-z_]+")


def _note_prefixes(language: str) -> tuple[str, ...]:
    return _FAMILIES.get(language, (None, ()))[1]


def _code_levels(lines: list[str], language: str, blank: list[bool]) -> list[int | None]:
    """Indentation of each line that starts a sibling, None for the others."""
    scanner, notes = _FAMILIES.get(language, (None, ()))
    inside = _inside_lines(lines, scanner) if scanner else [False] * len(lines)
    # Per line, in comprehensions (this runs for every line of every file a sync chunks): its
    # indent (a tab counts 4, as in _indent), its stripped text, whether it is code.
    indents = [(k := len(line) - len(line.lstrip(" \t"))) + 3 * line.count("\t", 0, k) for line in lines]
    stripped = [line.strip() for line in lines]
    if notes:
        is_code = [not (b or i or s.startswith(notes)) for b, i, s in zip(blank, inside, stripped, strict=True)]
    else:
        is_code = [not (b or i) for b, i in zip(blank, inside, strict=True)]
    # A note belongs to the code it precedes: it sits at that code's depth, unless deeper.
    depth: list[int] = indents[:]
    below = None
    for i in range(len(lines) - 1, -1, -1):
        if is_code[i]:
            below = indents[i]
        elif below is not None and below > indents[i]:
            depth[i] = below
    levels: list[int | None] = [None] * len(lines)
    for i in range(1, len(lines)):
        if blank[i] or inside[i]:
            continue
        above = i - 1
        # The line above is tested first: it rules out most lines without reading their words.
        if (blank[above] or (is_code[above] and (depth[above] > depth[i] or _closes(stripped[above])))) and not _continues(stripped[i]):
            levels[i] = depth[i]
    return levels


def _indent(line: str) -> int:
    body = line.lstrip(" \t")
    tabs = line.count("\t", 0, len(line) - len(body))
    return len(line) - len(body) + 3 * tabs


def _first_word(line: str) -> str:
    match = _WORD.match(line)
    return match.group() if match else ""


def _continues(line: str) -> bool:
    return line.startswith(_CONTINUING) or _first_word(line) in _CONTINUING_WORDS


def _closes(line: str) -> bool:
    return line.startswith(_CLOSERS) or _first_word(line) in _CLOSING_WORDS


def _inside_lines(lines: list[str], family: str) -> list[bool]:
    """For each line, whether it starts inside a multi-line string or comment.

    Only a line holding what can open one (_SPANNERS) can start a match that spans lines; at the
    start of any other line the scanner begins afresh (every match of a line ends on it), so it
    runs from the start of each such line only, up to the end of the last line its matches
    reach: the same matches as a scan of the whole text, where they matter, at a fraction of
    the cost (most lines hold none)."""
    text = "\n".join(lines)
    scanner, spanner = _SCANNERS[family], _SPANNERS[family]
    inside = [False] * len(lines)
    counted_at, counted = 0, 0  # newlines before counted_at (positions asked in increasing order)

    def line_at(position: int) -> int:
        nonlocal counted_at, counted
        counted += text.count("\n", counted_at, position)
        counted_at = position
        return counted

    pos = 0  # a line start where the scanner begins afresh
    while (found := spanner.search(text, pos)) is not None:
        start = text.rfind("\n", pos, found.start()) + 1 or pos
        line_end = text.find("\n", found.start())
        for match in scanner.finditer(text, start):
            begin, end = match.span()
            if 0 <= line_end < begin:
                break  # past the lines reached: afresh at the next line's start
            if text.find("\n", begin, end) >= 0:
                first, last = line_at(begin) + 1, line_at(end - 1)
                inside[first : last + 1] = [True] * (last + 1 - first)
                line_end = text.find("\n", end)
        else:
            break  # the scanner reached the end of the text
        pos = line_end + 1
    return inside


# --- Structure of prose: headings ----------------------------------------------------------------

_ATX_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]|$)")
_SETEXT_UNDERLINE = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_RST_UNDERLINE = re.compile(r"([!-/:-@\[-`{-~])\1{2,}[ \t]*$")


def _markdown_levels(lines: list[str]) -> list[int | None]:
    levels: list[int | None] = [None] * len(lines)
    fence = ""
    for i, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1).startswith(fence):
                fence = ""
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _ATX_HEADING.match(line)
        if heading:
            levels[i] = len(heading.group(1))
            continue
        underline = _SETEXT_UNDERLINE.match(lines[i + 1]) if i + 1 < len(lines) else None
        if underline and line.strip() and (i == 0 or not lines[i - 1].strip()) and _indent(line) <= 3:
            levels[i] = 1 if underline.group(1)[0] == "=" else 2
    return levels


def _rst_levels(lines: list[str]) -> list[int | None]:
    # Section levels follow the order in which underline styles first appear, as in docutils.
    levels: list[int | None] = [None] * len(lines)
    styles: dict[tuple[str, bool], int] = {}
    for i in range(1, len(lines)):
        underline = _RST_UNDERLINE.match(lines[i])
        title = lines[i - 1]
        if not underline or not title.strip() or title[0].isspace() or _RST_UNDERLINE.match(title):
            continue
        if len(lines[i].rstrip()) < len(title.rstrip()):
            continue
        overlined = i >= 2 and lines[i - 2].rstrip() == lines[i].rstrip()
        style = (underline.group(1), overlined)
        levels[i - 2 if overlined else i - 1] = styles.setdefault(style, len(styles))
    return levels
