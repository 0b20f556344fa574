"""Chunk size study: what the chunk limit costs the model and what it keeps of the code.

    .venv/bin/python bench/chunk_size.py [--package rich] [--versions 13.9.4 14.0.0] [--sizes 600 800 1000 1200 1500]

For each limit (embeddings.chunking's max_chars, NYXSYNC_CHUNK_MAX_CHARS), on the last release:
chunks, mean characters, the share of characters past the model's 256-token window (truncated:
the model never reads them), and the model's time on the chunks of a fixed sample of files (the
same files, so the same code, at every limit; rounds interleaved so a busy spell slows all
alike), in seconds per 1,000 characters of code. For each release-to-release step: the chunks and
characters a sync must embed (new hashes), and their estimated model seconds. Figures only.
"""

import argparse
import os
import statistics
import time
from pathlib import Path

from chunking import _release_files, _sha256
from common import cpu_name, setup_django  # noqa: F401  (sys.path: the checkout)

WINDOW = 256


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--package", default="rich")
    parser.add_argument("--versions", nargs="+", default=["13.7.0", "13.7.1", "13.9.4", "14.0.0"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[600, 800, 1000, 1200, 1500])
    parser.add_argument("--model", default="all-MiniLM-L6-v2-int8-r2")  # the default model of new branches
    parser.add_argument("--sample", type=int, default=8, help="time the model on every Nth file of the last release")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/nyxsync-bench"))
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nyxsync.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from embeddings.backends import get_backend
    from embeddings.chunking import chunk_text

    releases = {version: _release_files(args.package, version, args.cache) for version in args.versions}
    last = releases[args.versions[-1]]
    sample = sorted(path for path in last if path.endswith(".py"))[:: args.sample]
    backend = get_backend(args.model)
    backend.embed(["warm up"])
    tokenizer = _tokenizer()
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(
        f"{args.package} {args.versions[-1]}: {len(last)} files; model {args.model} timed on {len(sample)} .py files (every {args.sample}th)"
    )

    chunks = {
        size: {
            v: [c.text for p, t in files.items() for c in chunk_text(p, t, max_chars=size)]
            for v, files in releases.items()
        }
        for size in args.sizes
    }
    sampled = {size: [c.text for p in sample for c in chunk_text(p, last[p], max_chars=size)] for size in args.sizes}
    times: dict[int, list[float]] = {size: [] for size in args.sizes}
    cpu: dict[int, list[float]] = {size: [] for size in args.sizes}
    for _ in range(args.rounds):
        for size in args.sizes:
            texts = sorted(sampled[size], key=len)
            started, started_cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(texts), 32):  # as the pipeline calls embed()
                backend.embed(texts[start : start + 32])
            times[size].append(time.perf_counter() - started)
            cpu[size].append(time.process_time() - started_cpu)

    print(
        f"\n{'max_chars':>9} {'chunks':>7} {'mean':>6} {'past window':>12} {'sample chunks':>13} {'CPU s/1k chars':>15} {'wall s/1k chars':>16}"
    )
    per_kchar = {}
    for size in args.sizes:
        texts = chunks[size][args.versions[-1]]
        lost = sum(_past_window(tokenizer, text) for text in texts) / sum(map(len, texts))
        sample_chars = sum(map(len, sampled[size]))
        per_kchar[size] = min(cpu[size]) * 1000 / sample_chars
        print(
            f"{size:>9} {len(texts):>7} {statistics.mean(map(len, texts)):>6.0f} {lost:>11.1%} "
            f"{len(sampled[size]):>13} {per_kchar[size]:>15.4f} {min(times[size]) * 1000 / sample_chars:>16.4f}"
        )

    print("\nrelease to release: what a sync embeds (new hashes), estimated model CPU seconds at the limit's rate")
    for old, new in zip(args.versions, args.versions[1:], strict=False):
        cells = []
        for size in args.sizes:
            before = {_sha256(text) for text in chunks[size][old]}
            fresh = {_sha256(text): text for text in chunks[size][new] if _sha256(text) not in before}
            chars = sum(map(len, fresh.values()))
            cells.append(
                f"{size}: {len(fresh)} chunks {chars / 1000:.0f}k chars ~{chars * per_kchar[size] / 1000:.1f} s"
            )
        print(f"  {old} -> {new}  " + "; ".join(cells))
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


def _tokenizer():
    from tokenizers import Tokenizer

    from embeddings.backends import onnx_build

    tokenizer = Tokenizer.from_file(str(onnx_build.ensure_built() / onnx_build.TOKENIZER_FILE))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _past_window(tokenizer, text: str) -> int:
    """Characters of `text` past the model's window ([CLS] and [SEP] take two of its tokens)."""
    offsets = tokenizer.encode(text).offsets
    if len(offsets) <= WINDOW:
        return 0
    return len(text) - offsets[WINDOW - 1][0]


if __name__ == "__main__":
    main()
