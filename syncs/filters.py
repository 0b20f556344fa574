"""Which files of a tree are not indexed, and why. Path and size rules need no read; content
rules run on the bytes of added or changed files only."""

import re
from pathlib import PurePosixPath

# Reasons are stable identifiers: they are counted per run and shown to users.
SYMLINK = "symlink"
SUBMODULE = "submodule"
TOO_LARGE = "too_large"
VENDORED = "vendored"
GENERATED = "generated"
LOCK_FILE = "lock_file"
BINARY = "binary"
NOT_UTF8 = "not_utf8"
EMPTY = "empty"

_VENDORED_DIRS = {
    "node_modules", "vendor", "vendors", "third_party", "third-party", "bower_components",
    "site-packages", ".venv", "venv", "__pycache__", ".git", ".tox", ".mypy_cache",
}
_GENERATED_DIRS = {"dist", "build", "out", "target", "coverage", ".next", ".nuxt"}
_GENERATED_NAME = re.compile(
    r"(\.min\.(js|css)$|\.(js|css)\.map$|_pb2(_grpc)?\.pyi?$|\.pb\.(go|cc|h)$|\.generated\.\w+$|\.g\.dart$|-lock\.json$)"
)
_LOCK_FILES = {
    "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "Pipfile.lock", "Cargo.lock",
    "Gemfile.lock", "composer.lock", "go.sum", "uv.lock", "pdm.lock", "mix.lock", "pubspec.lock",
    "flake.lock", "packages.lock.json", "npm-shrinkwrap.json",
}
_BINARY_EXTENSIONS = {
    "png", "jpg", "jpeg", "gif", "bmp", "ico", "webp", "tiff", "psd", "svgz", "pdf", "zip", "gz", "tgz",
    "bz2", "xz", "7z", "rar", "tar", "jar", "war", "whl", "egg", "so", "dylib", "dll", "exe", "bin", "o",
    "a", "lib", "pyc", "pyo", "class", "wasm", "woff", "woff2", "ttf", "otf", "eot", "mp3", "mp4", "mov",
    "avi", "wav", "flac", "ogg", "webm", "sqlite", "db", "parquet", "npy", "npz", "pkl", "pt", "onnx",
    "h5", "ckpt", "safetensors", "iso", "dmg", "deb", "rpm",
}


def skip_reason_for_path(path: str, *, mode: str, size: int, max_bytes: int) -> str:
    """The reason to skip a tree entry without reading it, or "" to read it."""
    if mode == "120000":
        return SYMLINK
    if mode == "160000":
        return SUBMODULE
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else path
    if any(part in _VENDORED_DIRS for part in parts[:-1]):
        return VENDORED
    if name in _LOCK_FILES or name.endswith(".lock"):
        return LOCK_FILE
    if any(part in _GENERATED_DIRS for part in parts[:-1]) or _GENERATED_NAME.search(name):
        return GENERATED
    if name.rsplit(".", 1)[-1].lower() in _BINARY_EXTENSIONS and "." in name:
        return BINARY
    if size > max_bytes:
        return TOO_LARGE
    if size == 0:
        return EMPTY
    return ""


def decode(content: bytes) -> tuple[str, str]:
    """(text, "") for indexable content, or ("", reason)."""
    if b"\x00" in content[:8192]:
        return "", BINARY
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return "", NOT_UTF8
    if not text.strip():
        return "", EMPTY
    return text, ""
