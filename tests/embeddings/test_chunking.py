"""The chunker: size bound, exact line ranges, coverage, stable boundaries, hostile input.

Pure module: no database. Real files come from the installed packages (Django's sources first).
"""

import ast
import hashlib
import random
import sysconfig
from pathlib import Path

import django
import pytest

from embeddings.chunking import DEFAULT_MAX_CHARS, Chunk, chunk_text
from embeddings.languages import language_for

DJANGO = Path(django.__file__).parent
EXTENSIONS = (
    ".py",
    ".pyi",
    ".js",
    ".css",
    ".html",
    ".txt",
    ".md",
    ".rst",
    ".json",
    ".yaml",
    ".sh",
    ".sql",
    ".c",
    ".h",
    ".cpp",
)


def _lines(text: str) -> list[str]:
    """The documented convention: universal newlines, numbered from 1."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def assert_valid(text: str, chunks: list[Chunk], max_chars: int) -> None:
    """Every documented property of one file's chunks."""
    lines = _lines(text)
    covered: set[int] = set()
    slices: dict[int, list[str]] = {}
    previous_end, previous_slice = 0, False
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal
        assert 0 < len(chunk.text) <= max_chars
        assert chunk.text.strip()
        assert chunk.content_hash == hashlib.sha256(chunk.text.encode("utf-8", "surrogatepass")).hexdigest()
        if chunk.text == "\n".join(lines[chunk.start_line - 1 : chunk.end_line]):
            assert chunk.start_line > previous_end
            assert lines[chunk.start_line - 1].strip() and lines[chunk.end_line - 1].strip()
            covered.update(range(chunk.start_line, chunk.end_line + 1))
            previous_slice = False
        else:  # a slice of one over-long line
            assert chunk.start_line == chunk.end_line
            assert len(lines[chunk.start_line - 1]) > max_chars
            assert chunk.start_line > previous_end or (previous_slice and chunk.start_line == previous_end)
            slices.setdefault(chunk.start_line, []).append(chunk.text)
            previous_slice = True
        previous_end = chunk.end_line
    for line_no, pieces in slices.items():
        line, position = lines[line_no - 1], 0
        for piece in pieces:
            found = line.find(piece, position)
            assert found >= 0 and not line[position:found].strip()
            position = found + len(piece)
        assert not line[position:].strip()
    assert not covered & set(slices)
    assert {i + 1 for i, line in enumerate(lines) if line.strip()} <= covered | set(slices)


def real_files(limit_per_extension: int = 40) -> list[Path]:
    """Django's sources of every kind, then other installed packages' C, Markdown, SQL...: a fixed sample."""
    roots = [DJANGO, Path(sysconfig.get_paths()["purelib"])]
    chosen: dict[str, list[Path]] = {ext: [] for ext in EXTENSIONS}
    for root in roots:
        for path in sorted(root.rglob("*")):
            bucket = chosen.get(path.suffix)
            if (
                bucket is not None
                and len(bucket) < limit_per_extension
                and path.is_file()
                and path.stat().st_size < 300_000
            ):
                bucket.append(path)
    return [path for paths in chosen.values() for path in paths]


def hashes(chunks: list[Chunk]) -> set[str]:
    return {chunk.content_hash for chunk in chunks}


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    files = real_files()
    assert len(files) >= 200
    return [(str(path), path.read_text(encoding="utf-8", errors="replace")) for path in files]


@pytest.mark.parametrize("max_chars", [DEFAULT_MAX_CHARS, 300, 64])
def test_it_keeps_size_bound_exact_lines_and_coverage_on_real_files(corpus, max_chars):
    for path, text in corpus:
        assert_valid(text, chunk_text(path, text, max_chars=max_chars), max_chars)


def test_it_hashes_exactly_the_embedded_text_without_the_path():
    chunks = chunk_text("a.py", "def f():\n    return 1\n")
    assert chunks == [Chunk(0, 1, 2, "def f():\n    return 1", hashlib.sha256(b"def f():\n    return 1").hexdigest())]


def test_it_returns_no_chunks_for_empty_or_blank_text():
    for text in ("", "\n", "\n\n\n", "  \t \r\n \r", "\x0c\n\v"):
        assert chunk_text("x.py", text) == []


def test_it_rejects_a_non_positive_max():
    with pytest.raises(ValueError):
        chunk_text("x.py", "x = 1", max_chars=0)


def test_it_reads_crlf_and_cr_files_like_lf():
    text = (DJANGO / "db/models/query_utils.py").read_text()
    lf = chunk_text("q.py", text)
    assert len(lf) > 10
    for variant in (text.replace("\n", "\r\n"), text.replace("\n", "\r")):
        assert chunk_text("q.py", variant) == lf


def test_it_gives_a_renamed_or_moved_file_the_same_chunks():
    text = (DJANGO / "utils/functional.py").read_text()
    original = chunk_text("django/utils/functional.py", text)
    for path in ("functional.py", "vendor/other/helpers.py", "branch-b/utils/functional.py"):
        assert chunk_text(path, text) == original


def _functions(text: str) -> list[ast.FunctionDef]:
    return [node for node in ast.walk(ast.parse(text)) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_it_changes_only_the_edited_functions_chunks_and_at_most_a_neighbour():
    edits = within_one = 0
    for module in ("db/models/query_utils.py", "utils/functional.py", "forms/forms.py", "db/models/query.py"):
        text = (DJANGO / module).read_text()
        lines = text.split("\n")
        before = hashes(chunk_text(module, text))
        for function in _functions(text):
            body = function.body[0]
            edited = lines[: body.lineno - 1] + [" " * body.col_offset + "_edited = True"] + lines[body.lineno - 1 :]
            after = chunk_text(module, "\n".join(edited))
            start = min([function.lineno] + [d.lineno for d in function.decorator_list])
            touching = [c.ordinal for c in after if c.start_line <= function.end_lineno + 1 and c.end_line >= start]
            changed = [c.ordinal for c in after if c.content_hash not in before]
            first, last = min(touching), max(touching)
            assert changed, function.name
            # Rarely, packing realigns only two chunks below: never further.
            assert first - 1 <= min(changed) and max(changed) <= last + 2, (module, function.name)
            # Everything else kept its text and hash, only shifted by the inserted line.
            assert hashes([c for c in after if not first - 1 <= c.ordinal <= last + 2]) <= before
            edits += 1
            within_one += max(changed) <= last + 1
    assert edits > 250
    assert within_one >= 0.95 * edits


def test_it_keeps_hashes_when_lines_are_inserted_at_the_top():
    text = (DJANGO / "db/models/query_utils.py").read_text()
    before = chunk_text("q.py", text)
    header = "# A new licence header\n# over two lines.\nimport os\nimport sys\n\n"
    after = chunk_text("q.py", header + text)
    changed = [c for c in after if c.content_hash not in hashes(before)]
    assert len(changed) <= 2 and all(c.ordinal < 2 for c in changed)
    moved = {c.content_hash: c.start_line for c in after}
    shifts = {moved[c.content_hash] - c.start_line for c in before if c.content_hash in moved}
    assert shifts == {5}
    assert len(before) - len(hashes(before) & hashes(after)) <= 2


def test_it_keeps_packing_local_in_a_long_run_of_small_siblings():
    # Same-sized siblings: "fill, then cut" packing would shift every chunk after an insertion.
    methods = [f"    def method_{i:03d}(self, value):\n        return value * {i % 10} + {i:03d}\n" for i in range(300)]
    before = chunk_text("m.py", "class Many:\n" + "\n".join(methods))
    inserted = "    def inserted(self):\n        return 42\n"
    after = chunk_text("m.py", "class Many:\n" + "\n".join([inserted, *methods]))
    assert len(before) >= 15
    changed = [c.ordinal for c in after if c.content_hash not in hashes(before)]
    assert changed and max(changed) <= 2


def test_it_keeps_decorators_and_leading_comments_with_their_function():
    functions = [
        f"# Leading comment of f{i},\n# over two lines.\n@decorator({i})\n@other\ndef f{i}(a, b):\n"
        + "".join(f"    a = b + {i * 100 + j}  # some arithmetic to fill the function up\n" for j in range(6))
        + "    return a\n"
        for i in range(8)
    ]
    text = '"""Module doc."""\n\nimport os\n\n\n' + "\n\n".join(functions)
    chunks = chunk_text("m.py", text, max_chars=800)
    for function in functions:
        assert any(function.strip() in c.text for c in chunks)
    assert all(c.text.startswith(("# Leading", '"""Module')) for c in chunks)


def test_it_splits_a_big_class_into_its_methods():
    text = (DJANGO / "utils/datastructures.py").read_text()
    tree = ast.parse(text)
    multi_dict = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "MultiValueDict")
    chunks = chunk_text("d.py", text)
    starts = {c.start_line for c in chunks}
    inside = [c for c in chunks if multi_dict.lineno <= c.start_line <= multi_dict.end_lineno]
    assert len(inside) >= 4
    method_starts = {
        min([m.lineno] + [d.lineno for d in m.decorator_list])
        for m in multi_dict.body
        if isinstance(m, ast.FunctionDef)
    }
    # Every chunk inside the class starts at a method (or at the class itself); none cuts one in two.
    assert {c.start_line for c in inside} <= method_starts | {multi_dict.lineno}
    for method in multi_dict.body:
        if isinstance(method, ast.FunctionDef) and method.end_lineno - method.lineno < 15:
            assert not starts & set(range(method.lineno + 1, method.end_lineno + 1)), method.name


def test_it_chunks_python_that_does_not_parse():
    broken = "\n\n".join(
        f"def f{i}(a, b:\n    x = [1, 2, (3\n    s = '''unterminated {i}\n" + "    y = a + b\n" * 12 + "    return {{x"
        for i in range(10)
    )
    with pytest.raises(SyntaxError):
        ast.parse(broken)
    chunks = chunk_text("broken.py", broken, max_chars=400)
    assert_valid(broken, chunks, 400)
    assert len(chunks) > 1


@pytest.mark.parametrize(
    ("path", "opening", "closing"),
    [("q.py", 'QUERY = """', '"""'), ("q.js", "const QUERY = `", "`;"), ("q.c", "/* QUERY", "*/")],
)
def test_it_never_starts_a_chunk_inside_a_multiline_string_or_comment(path, opening, closing):
    fake = "\n".join(f"\ndef fake{i}():\nfunction fake{i}() {{\nSELECT {i} FROM t" for i in range(12))
    real = "\n\n".join(f"def real{i}(a):\n" + "    a = a + 1\n" * 20 + "    return a" for i in range(3))
    text = f"{opening}\n{fake}\n{closing}\n\n{real}\n"
    chunks = chunk_text(path, text)
    assert_valid(text, chunks, DEFAULT_MAX_CHARS)
    assert len(chunks) >= 2
    assert f"{opening}\n{fake}\n{closing}" in chunks[0].text
    assert all(c.text.startswith("def real") for c in chunks[1:])


def test_it_splits_brace_languages_at_top_level_blocks_without_lone_braces():
    def block(i: int) -> str:
        return (
            f"function handler{i}(event) {{\n"
            + "".join(f"  const v{j} = event.values[{j}] * {i};\n" for j in range(14))
            + "  return v0;\n}\n"
        )

    text = "'use strict';\nimport x from 'y';\n\n" + "\n".join(block(i) for i in range(6))
    chunks = chunk_text("app.js", text)
    assert len(chunks) == 6
    for i, chunk in enumerate(chunks):
        assert f"function handler{i}(event) {{" in chunk.text.split("\n")[:4]
        assert chunk.text.endswith("}")
    assert not [c for c in chunks if c.text.strip() in ("}", "};", "import x from 'y';")]


def test_it_splits_c_functions_around_preprocessor_lines():
    body = "".join(f"    total += values[{j}] * {j};\n" for j in range(20))
    text = "#include <stdio.h>\n\n" + "\n".join(
        f"/* Sums the values, variant {i}. */\nstatic int sum{i}(const int *values)\n{{\n    int total = 0;\n#ifdef FAST\n{body}#else\n{body}#endif\n    return total;\n}}\n"
        for i in range(4)
    )
    chunks = chunk_text("sum.c", text)
    assert_valid(text, chunks, DEFAULT_MAX_CHARS)
    # Each function opens a chunk with its comment (the include joins the first one) and, too big
    # for one chunk, goes on in a second; no piece starts at "#else" or "#endif".
    assert not [c for c in chunks if c.text.startswith(("#else", "#endif"))]
    assert [c.text.split("\n")[-1] for c in chunks[1::2]] == ["}"] * 4
    assert all("/* Sums the values" in c.text.split("\n")[2 * (i == 0)] for i, c in enumerate(chunks[::2]))


def test_it_splits_markdown_at_headings_not_at_hashes_in_code():
    section = "Some prose about the topic that goes on for a while. " * 12
    code = "".join(f"pip install package-number-{i} --upgrade\n" for i in range(8))
    text = (
        "# Title\n\nIntro.\n\n## Install\n\n" + "Steps. " * 45 + "\n\n```sh\n# not a heading\n" + code + "```\n\n"
        "## Use\n\n" + section + "\n\nUsage\n-----\n\n" + section + "\n\n## Last\n\n" + section + "\n"
    )
    chunks = chunk_text("README.md", text)
    assert_valid(text, chunks, DEFAULT_MAX_CHARS)
    assert [c.text.split("\n")[0] for c in chunks] == ["# Title", "## Use", "Usage", "## Last"]
    assert "# not a heading" in chunks[0].text


def test_it_splits_rst_at_section_titles():
    section = "Some prose about the topic that goes on for a while. " * 12
    text = f"=====\nTitle\n=====\n\nIntro.\n\nFirst\n=====\n\n{section}\n\nSub\n---\n\n{section}\n\nSecond\n======\n\n{section}\n"
    chunks = chunk_text("docs/index.rst", text)
    assert [c.text.split("\n")[0] for c in chunks] == ["=====", "Sub", "Second"]


def _minified(seed: int, count: int) -> str:
    rng = random.Random(seed)
    return "".join(
        f"function f{i}(a,b){{var c=a*{rng.randint(1, 999)}+b;return c>{rng.randint(1, 99)}?c:b}};"
        for i in range(count)
    )


def test_it_cuts_minified_javascript_into_slices_that_realign_after_an_edit():
    line = _minified(seed=3, count=1500)
    chunks = chunk_text("app.min.js", line)
    assert_valid(line, chunks, DEFAULT_MAX_CHARS)
    assert len(chunks) >= len(line) // DEFAULT_MAX_CHARS
    assert {(c.start_line, c.end_line) for c in chunks} == {(1, 1)}
    edited = line[:5000] + "var inserted=1;" + line[5000:]
    after = chunk_text("app.min.js", edited)
    reused = len(hashes(after) & hashes(chunks))
    assert reused >= len(chunks) - 5


def test_it_handles_long_lines_among_short_ones():
    text = "x = 1\n" + "data = '" + "ab" * 3000 + "'\n" + "y = 2\n"
    chunks = chunk_text("d.py", text, max_chars=500)
    assert_valid(text, chunks, 500)
    assert chunks[0].text == "x = 1" and chunks[-1].text == "y = 2"


TOKENS = (
    """{ } ( ) [ ] " ' \"\"\" ''' ` /* */ // # -- <!-- --> \\ end else: @decorator === --- ``` ~~~ x é""".split()
    + ["\n", "\r\n", "\r", "\n\n", "\t", "    ", "        ", "\x00", "\ud800", "\u2028", "\x0c", "; ", ", ", "word "]
    + ["def f():", "class A:", "function g() {", "} else {", "# Heading", "z" * 1500, " " * 1200]
)


@pytest.mark.parametrize("seed", range(40))
def test_it_survives_hostile_structure(seed):
    rng = random.Random(seed)
    for _ in range(12):
        text = "".join(rng.choice(TOKENS) for _ in range(rng.randint(0, 600)))
        path = rng.choice(["a.py", "a.js", "a.c", "a.rs", "a.sql", "a.html", "a.md", "a.rst", "a.yaml", "a", "a.json"])
        max_chars = rng.choice([1, 2, 7, 40, 200, 1000])
        assert_valid(text, chunk_text(path, text, max_chars=max_chars), max_chars)


@pytest.mark.parametrize("seed", range(20))
def test_it_survives_random_bytes(seed):
    rng = random.Random(seed)
    for _ in range(10):
        data = rng.randbytes(rng.randint(0, 20_000))
        for text in (data.decode("utf-8", errors="replace"), data.decode("utf-8", errors="surrogateescape")):
            max_chars = rng.choice([5, 100, 1000])
            assert_valid(
                text, chunk_text(rng.choice(["b.py", "b.c", "b.md", "b"]), text, max_chars=max_chars), max_chars
            )


def test_it_stays_shallow_on_a_staircase_of_indents():
    text = "\n\n".join(" " * i + f"step{i}" for i in range(3000))
    chunks = chunk_text("stairs.py", text, max_chars=100)
    assert_valid(text, chunks, 100)


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("pkg/mod.py", "python"),
        ("web/app.tsx", "typescript"),
        ("web/app.min.js", "javascript"),
        ("cmd/main.go", "go"),
        ("src/lib.rs", "rust"),
        ("include/x.H", "c"),
        ("src/x.cpp", "cpp"),
        ("README.md", "markdown"),
        ("docs/index.rst", "rst"),
        ("Makefile", "make"),
        ("Dockerfile", "dockerfile"),
        ("deploy/values.yml", "yaml"),
        ("pyproject.toml", "toml"),
        ("data.json", "json"),
        ("db/schema.sql", "sql"),
        ("scripts/run.sh", "shell"),
        ("notes.txt", "text"),
        ("LICENSE", "text"),
        ("archive.tar.gz", ""),
        ("noextension", ""),
        (".hidden", ""),
        ("", ""),
        ("dir.py/", ""),
        ("weird\x00name.py", "python"),
    ],
)
def test_it_names_languages_from_paths(path, language):
    assert language_for(path) == language
