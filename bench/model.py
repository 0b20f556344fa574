"""Raw throughput of the local all-MiniLM-L6-v2 backend on real code, and what it costs a process.

    .venv/bin/python bench/model.py [--chunks 256]

Chunks of 800-1,000 characters (what the chunker makes) are cut from Django's own source. Prints:
import time of torch + sentence-transformers, model load time, chunks/s for each batch size and
torch thread count, and peak RSS. A benchmark, not a test: it never passes or fails.
"""

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

BATCH_SIZES = (16, 32, 64)
THREADS = (1, 2)
MIN_CHARS, MAX_CHARS = 800, 1000


def code_chunks(count: int) -> list[str]:
    """`count` chunks of whole lines, 800-1,000 characters each, spread over Django's modules."""
    import django

    files = sorted(Path(django.__file__).parent.rglob("*.py"))
    chunks = []
    # Every few files rather than the first ones, so the sample is not all of django/apps.
    for path in files[:: max(len(files) // count, 1)]:
        chunks.extend(_chunks_of(path.read_text(encoding="utf-8", errors="replace")))
        if len(chunks) >= count:
            return chunks[:count]
    return chunks


def _chunks_of(source: str) -> list[str]:
    chunks, current = [], ""
    for line in source.splitlines(keepends=True):
        if len(current) + len(line) > MAX_CHARS:
            if len(current) >= MIN_CHARS:
                chunks.append(current)
            current = ""
        current += line[:MAX_CHARS]
    return chunks


def _rate(backend, chunks: list[str]) -> float:
    started = time.perf_counter()
    backend.embed(chunks)
    return len(chunks) / (time.perf_counter() - started)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=192, help="chunks per measurement (default 192)")
    parser.add_argument("--repeat", type=int, default=3, help="measurements per setting (default 3)")
    args = parser.parse_args()

    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    started = time.perf_counter()
    import sentence_transformers
    import torch

    import_seconds = time.perf_counter() - started
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load}")
    print(f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}")
    print(f"import torch + sentence-transformers: {import_seconds:.2f} s (peak RSS {peak_rss_mb():.0f} MB)")

    from embeddings.backends.local import MiniLMBackend

    backend = MiniLMBackend(threads=THREADS[-1])
    started = time.perf_counter()
    backend.warm()
    print(f"load all-MiniLM-L6-v2: {time.perf_counter() - started:.2f} s (peak RSS {peak_rss_mb():.0f} MB)")

    chunks = code_chunks(args.chunks)
    window = backend._model.max_seq_length
    tokens = sorted(len(ids) for ids in backend._model.tokenizer(chunks, verbose=False)["input_ids"])
    over = sum(count > window for count in tokens)
    print(
        f"{len(chunks)} chunks from Django: {sum(map(len, chunks)) / len(chunks):.0f} chars and "
        f"{sum(tokens) / len(tokens):.0f} tokens on average (median {tokens[len(tokens) // 2]}); "
        f"{over} ({over / len(tokens):.0%}) over the {window}-token window, truncated by the model"
    )

    # Best and median of a few runs: other processes on a small machine only ever slow a run down.
    print("threads  batch  best chunks/s  median chunks/s")
    for threads in THREADS:
        torch.set_num_threads(threads)
        for batch in BATCH_SIZES:
            backend.max_batch = batch
            backend.embed(chunks[:batch])  # warm-up: first-call allocations are not throughput
            rates = sorted(_rate(backend, chunks) for _ in range(args.repeat))
            print(f"{threads:>7}  {batch:>5}  {rates[-1]:>13.1f}  {rates[len(rates) // 2]:>15.1f}")
    print(f"load average at the end: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
