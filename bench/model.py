"""Raw throughput of the local all-MiniLM-L6-v2 backends on real code, side by side in one run:
torch (sentence-transformers) and both int8 recipes on ONNX Runtime, and what each costs a process.

    .venv/bin/python bench/model.py [--chunks 192] [--repeat 3]

Chunks of 800-1,000 characters (what the chunker makes) are cut from Django's own source. Prints:
the CPU, import time of each runtime (in a fresh process), model load time, cosine agreement of the
int8 vectors with torch's on the same chunks, chunks/s for each backend, thread count and batch
size (rounds interleaved, best and median: other processes on a small machine only ever slow a run
down), the int8/torch speed ratio, and peak RSS. A benchmark, not a test: it never passes or fails.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import cpu_name

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from anywhere

TORCH_BATCH_SIZES = (16, 32, 64)
THREADS = (1, 2)
MIN_CHARS, MAX_CHARS = 800, 1000
IMPORTS = {
    "torch + sentence-transformers": "import torch, sentence_transformers",
    "onnxruntime + tokenizers": "import onnxruntime, tokenizers",
}


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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _import_seconds(statement: str) -> float:
    script = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=192, help="chunks per measurement (default 192)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()

    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores, load average {load}")
    for name, statement in IMPORTS.items():
        print(f"import {name}: {_import_seconds(statement):.2f} s (fresh process)")

    import sentence_transformers
    import torch

    from embeddings.backends.local import MiniLMBackend
    from embeddings.backends.onnxrt import MiniLMInt8Backend, MiniLMInt8R2Backend

    print(f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, ", end="")
    import onnxruntime

    print(f"onnxruntime {onnxruntime.__version__}")
    backends = {}
    for threads in THREADS:
        for label, cls in (("torch", MiniLMBackend), ("int8", MiniLMInt8Backend), ("int8-r2", MiniLMInt8R2Backend)):
            backend = cls(threads=threads)
            started = time.perf_counter()
            backend.warm()
            backends[(label, threads)] = backend
            if threads == THREADS[-1]:
                print(f"load {backend.name}: {time.perf_counter() - started:.2f} s (peak RSS so far {peak_rss_mb():.0f} MB)")

    chunks = code_chunks(args.chunks)
    torch_backend = backends[("torch", THREADS[-1])]
    window = torch_backend._model.max_seq_length
    tokens = sorted(len(ids) for ids in torch_backend._model.tokenizer(chunks, verbose=False)["input_ids"])
    over = sum(count > window for count in tokens)
    print(
        f"{len(chunks)} chunks from Django: {sum(map(len, chunks)) / len(chunks):.0f} chars and "
        f"{sum(tokens) / len(tokens):.0f} tokens on average (median {tokens[len(tokens) // 2]}); "
        f"{over} ({over / len(tokens):.0%}) over the {window}-token window, truncated by the model"
    )

    int8_backend = backends[("int8", THREADS[-1])]
    reference = torch_backend.embed(chunks)
    for label in ("int8-r2", "int8"):
        quantized = backends[(label, THREADS[-1])].embed(chunks)
        agreement = np.sum(reference * quantized, axis=1)
        print(
            f"cosine of {label} to torch vectors, same chunks: mean {agreement.mean():.4f}, "
            f"5th percentile {np.percentile(agreement, 5):.4f}, min {agreement.min():.4f}"
        )
    batched = _int8_batched(int8_backend, chunks, 32)
    drift = np.sum(batched * quantized, axis=1)
    print(
        f"int8 run in padded batches of 32 instead of one text a run: cosine to the per-text vectors "
        f"mean {drift.mean():.4f}, min {drift.min():.4f} (a text's vector would depend on its batch)"
    )
    full = [i for i, text in enumerate(chunks) if len(int8_backend._loaded()[1].encode(text).ids) == window]
    if len(full) >= 2:
        same = _int8_batched(int8_backend, [chunks[i] for i in full], 32)
        drift = np.sum(same * quantized[full], axis=1)
        print(
            f"int8 in batches of equal token length ({len(full)} texts of {window} tokens, no padding): cosine "
            f"to the per-text vectors mean {drift.mean():.4f}, min {drift.min():.4f} (activations share one range per batch)"
        )

    # Settings measured; the rounds interleave them so a busy spell slows all alike.
    settings = [("torch", threads, batch) for threads in THREADS for batch in TORCH_BATCH_SIZES]
    settings += [(label, threads, 1) for threads in THREADS for label in ("int8", "int8-r2")]
    settings += [("int8 batched", THREADS[-1], 32)]
    ordered = sorted(chunks, key=len)  # the pipeline hands texts over sorted by length
    rates: dict[tuple, list[float]] = {setting: [] for setting in settings}
    for backend in backends.values():
        backend.embed(chunks[:16])  # warm-up: first-call allocations are not throughput
    for _ in range(args.repeat):
        for label, threads, batch in settings:
            started = time.perf_counter()
            if label == "int8 batched":
                _int8_batched(backends[("int8", threads)], ordered, batch)
            else:
                torch.set_num_threads(threads)
                backend = backends[(label, threads)]
                backend.max_batch = batch
                for start in range(0, len(ordered), 32):  # as the pipeline calls embed()
                    backend.embed(ordered[start : start + 32])
            rates[(label, threads, batch)].append(len(chunks) / (time.perf_counter() - started))

    print("backend        threads  batch  best chunks/s  median chunks/s  best s/1,000 chars")
    chars = sum(map(len, chunks))
    for (label, threads, batch), values in rates.items():
        values.sort()
        per_kchar = len(chunks) / values[-1] / chars * 1000
        print(f"{label:<13} {threads:>8}  {batch:>5}  {values[-1]:>13.1f}  {values[len(values) // 2]:>15.1f}  {per_kchar:>18.4f}")
    labels = ("torch", "int8", "int8-r2")
    best = {label: max(max(v) for (name, t, _), v in rates.items() if name == label and t == THREADS[-1]) for label in labels}
    for label in labels[1:]:
        print(f"{label} / torch, {THREADS[-1]} threads, best of each: {best[label] / best['torch']:.2f}x the chunks/s")
    print(f"load average at the end: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")


_BATCHED_SESSIONS: dict = {}


def _int8_batched(backend, texts: list[str], size: int) -> np.ndarray:
    """The int8 model run on padded batches (what the backend does not do), for comparison: one
    run at a time on a session of the backend's threads (the backend runs texts side by side)."""
    from embeddings.backends.onnxrt import load_session

    if backend.threads not in _BATCHED_SESSIONS:
        _BATCHED_SESSIONS[backend.threads] = load_session(backend.threads)
    tokenizer, session = _BATCHED_SESSIONS[backend.threads]
    encodings = tokenizer.encode_batch(texts)
    rows = []
    for start in range(0, len(texts), size):
        batch = encodings[start : start + size]
        width = max(len(encoding.ids) for encoding in batch)
        ids = np.zeros((len(batch), width), dtype=np.int64)
        for row, encoding in enumerate(batch):
            ids[row, : len(encoding.ids)] = encoding.ids
        rows.append(session.run(None, {"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)})[0])
    return np.concatenate(rows)


if __name__ == "__main__":
    main()
