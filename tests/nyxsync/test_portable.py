"""The embedded PostgreSQL runs on any x86-64 CPU: no AVX-512 instruction in its server or its
extensions outside functions that dispatch on the CPU at run time.

A machine with AVX-512 (like the one CI may run on) never shows the fault: a library built for it
runs fine there and dies with SIGILL on most AMD servers and many cloud instances. So this reads
the machine code itself (binutils' objdump; `make test` installs binutils if it is missing).

An instruction is AVX-512 when it is EVEX-encoded (first byte 0x62, which in 64-bit mode is
always EVEX) or uses an opmask register (%k0-%k7, VEX-encoded k* instructions included). It is
allowed only inside functions named for the CPU feature they were built for (`*avx512*`, as
PostgreSQL's `pg_popcount_avx512` and pgvector's `BitHammingDistanceAvx512Popcount`), which their
callers reach only after checking the CPU (cpuid) at run time.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nyxsync import embedded

_FUNCTION = re.compile(r"^[0-9a-f]+ <(?P<name>[^>]+)>:$")
_DISPATCHED = re.compile(r"avx512", re.IGNORECASE)


def avx512_outside_dispatch(binary: Path) -> dict[str, int]:
    """{function: AVX-512 instructions} for the functions of `binary` not named for AVX-512."""
    listing = subprocess.run(
        ["objdump", "-d", "--insn-width=16", str(binary)], capture_output=True, text=True, check=True, timeout=300
    ).stdout
    found: dict[str, int] = {}
    function = "?"
    for line in listing.splitlines():
        if match := _FUNCTION.match(line):
            function = match["name"]
            continue
        parts = line.split("\t")
        if len(parts) < 3 or _DISPATCHED.search(function):
            continue
        first_byte = parts[1].split()[0] if parts[1].split() else ""
        if first_byte == "62" or re.search(r"%k[0-7]\b", parts[2]):
            found[function] = found.get(function, 0) + 1
    return found


def server_binaries() -> list[Path]:
    """The server and every shared library it loads: its extensions (pgvector among them)."""
    install = embedded.postgres_install()
    return [install / "bin" / "postgres", *sorted(install.glob("lib/**/*.so"))]


@pytest.fixture(scope="module")
def objdump():
    if shutil.which("objdump") is None:
        pytest.fail("objdump is missing: `make test` installs Debian's binutils")


def test_it_finds_avx512_outside_dispatching_functions(tmp_path, objdump):
    """The check itself can fail: a library compiled for AVX-512 is caught, one whose AVX-512
    code sits in a function named for it (dispatched at run time) passes."""
    source = tmp_path / "sample.c"
    source.write_text(
        "#include <immintrin.h>\n"
        "__attribute__((target(\"avx512f\"))) float cosine(const float *a) {\n"
        "  return _mm512_reduce_add_ps(_mm512_loadu_ps(a)); }\n"
        "__attribute__((target(\"avx512f\"))) float cosine_avx512(const float *a) {\n"
        "  return _mm512_reduce_add_ps(_mm512_loadu_ps(a)); }\n"
        "float plain(const float *a) { return a[0] + a[1]; }\n"
    )
    library = tmp_path / "sample.so"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)], check=True, capture_output=True)
    found = avx512_outside_dispatch(library)
    assert set(found) == {"cosine"}
    assert found["cosine"] >= 1


def test_the_embedded_server_and_its_extensions_hold_no_undispatched_avx512(objdump):
    binaries = server_binaries()
    assert any(path.name == "vector.so" for path in binaries), "pgvector is not where the server loads extensions from"
    offenders = {}
    for path in binaries:
        if found := avx512_outside_dispatch(path):
            offenders[path.name] = dict(sorted(found.items(), key=lambda item: -item[1])[:5])
    assert offenders == {}, f"AVX-512 instructions outside run-time dispatched functions: {offenders}"
