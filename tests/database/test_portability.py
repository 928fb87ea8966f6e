"""The embedded database runs on every x86-64-v3 CPU, whatever CPU the tests run on.

Release 0.1's embedded pgvector was compiled with -march=native on a machine with AVX-512:
on CPUs without it (most laptops, AMD before Zen 4, many cloud machines) the first vector
operation killed the database with "Illegal instruction", while the tests, run on a CPU
with AVX-512, passed. Two checks keep that from coming back, and neither depends on the
CPU they run on:

- the programs and libraries of the embedded PostgreSQL are disassembled, and no
  AVX-512 instruction may appear outside the functions PostgreSQL and pgvector choose at
  run time after asking the CPU (they carry "avx512" in their names);
- the embedded server computes with vectors under valgrind, whose virtual CPU has no
  AVX-512 on any host: an instruction it lacks ends the process with SIGILL, as the
  CPU would.

AVX-512 exists only on x86-64, so on other machines this module has nothing to check.
"""

from __future__ import annotations

import platform
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import DedicatedPostgres, embedded_installation, scratch_directory

pytestmark = pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="AVX-512 is an x86-64 extension"
)

# Legacy prefixes that may stand before an instruction's opcode bytes.
_PREFIXES = {"66", "67", "f2", "f3", "f0", "2e", "36", "3e", "26", "64", "65"}
_FUNCTION = re.compile(r"^[0-9a-f]+ <(?P<name>[^>]+)>:$")
# Chosen at run time after a CPU check: PostgreSQL's pg_popcount_avx512 and
# pg_comp_crc32c_avx512, pgvector's BitHammingDistanceAvx512Popcount, ...
_DISPATCHED = re.compile(r"avx512", re.IGNORECASE)


def avx512_functions(path: Path) -> dict[str, int]:
    """The functions of an ELF file that hold AVX-512 instructions, with their counts.

    AVX-512 instructions are exactly the EVEX-encoded ones, which begin with the byte
    0x62 after any legacy prefixes (in 64-bit code 0x62 means nothing else). That
    catches them whatever registers they use, including the ones on xmm0-15 that a
    search for zmm registers would miss.
    """
    listing = subprocess.run(
        ["objdump", "-d", "--wide", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found: dict[str, int] = {}
    function = "?"
    for line in listing.splitlines():
        if match := _FUNCTION.match(line):
            function = match["name"]
            continue
        fields = line.split("\t")
        if len(fields) < 3 or fields[2].startswith("(bad)"):
            continue
        opcode = [byte for byte in fields[1].split() if byte not in _PREFIXES]
        if opcode and opcode[0] == "62":
            found[function] = found.get(function, 0) + 1
    return found


def unguarded_avx512(path: Path) -> dict[str, int]:
    return {
        name: count
        for name, count in avx512_functions(path).items()
        if not _DISPATCHED.search(name)
    }


def _elf_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as file:
                if file.read(4) == b"\x7fELF":
                    yield path


def _assemble(directory: Path, source: str, *, link: bool = False) -> Path:
    """Assemble (and link) a small x86-64 program written in GNU assembler syntax."""
    assembly = directory / "probe.s"
    assembly.write_text(source)
    obj = directory / "probe.o"
    subprocess.run(["as", "-o", str(obj), str(assembly)], check=True, capture_output=True)
    if not link:
        return obj
    program = directory / "probe"
    subprocess.run(["ld", "-o", str(program), str(obj)], check=True, capture_output=True)
    return program


_PROBE = """
    .text
    .globl cosine_distance, popcount_avx512, plain_sum, _start
cosine_distance:
    vaddps %zmm1, %zmm2, %zmm3
    vpternlogd $0x96, %xmm1, %xmm2, %xmm3
    ret
popcount_avx512:
    vpopcntq %zmm0, %zmm1
    ret
plain_sum:
    vaddps %ymm1, %ymm2, %ymm3
    vfmadd231ps %ymm1, %ymm2, %ymm3
    ret
_start:
    call plain_sum
    call {call}
    mov $60, %eax
    xor %edi, %edi
    syscall
"""


def test_the_detector_finds_avx512_outside_the_functions_chosen_at_run_time(tmp_path):
    obj = _assemble(tmp_path, _PROBE.format(call="plain_sum"))

    assert avx512_functions(obj) == {"cosine_distance": 2, "popcount_avx512": 1}
    # vpternlogd on xmm registers is AVX-512 too; AVX2 and FMA (plain_sum) are not.
    assert unguarded_avx512(obj) == {"cosine_distance": 2}


def test_the_embedded_database_holds_no_avx512_outside_functions_chosen_at_run_time():
    folders = embedded_installation()
    files = [path for folder in folders for path in _elf_files(folder)]
    assert any(path.name == "vector.so" for path in files), files
    assert any(path.name == "postgres" for path in files), files

    offending = {
        str(path.relative_to(folders[0].parents[1])): functions
        for path in files
        if (functions := unguarded_avx512(path))
    }

    assert offending == {}, (
        "AVX-512 instructions in functions that run on every CPU; the embedded database "
        f"would crash with 'Illegal instruction' on CPUs without AVX-512: {offending}"
    )


def test_valgrinds_virtual_cpu_has_no_avx512(tmp_path):
    """The control for the next test: under valgrind, AVX-512 is an illegal instruction."""
    plain = _assemble(tmp_path, _PROBE.format(call="plain_sum"), link=True)
    assert subprocess.run(["valgrind", "-q", str(plain)], capture_output=True).returncode == 0

    wide = _assemble(tmp_path, _PROBE.format(call="cosine_distance"), link=True)
    result = subprocess.run(["valgrind", "-q", str(wide)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "SIGILL" in result.stderr or "Illegal" in result.stderr, result.stderr


# Single-user mode reads one statement per line.
VECTOR_WORK = "\n".join(
    [
        "CREATE EXTENSION vector;",
        "CREATE TABLE passages (id int, embedding vector(1536));",
        "CREATE INDEX ON passages USING hnsw (embedding vector_cosine_ops);",
        "INSERT INTO passages SELECT 1, array_fill(0.5::real, ARRAY[1536])::vector;",
        "INSERT INTO passages"
        " SELECT 2, (ARRAY[1::real] || array_fill(0::real, ARRAY[1535]))::vector;",
        "SET enable_seqscan = off;",
        "SELECT 'nearest=' || id FROM passages"
        " ORDER BY embedding <=> array_fill(0.25::real, ARRAY[1536])::vector LIMIT 1;",
        "SELECT 'norm=' || round(vector_norm(array_fill(0.5::real, ARRAY[1536])::vector)"
        "::numeric, 3);",
        "SELECT 'l2=' || round((array_fill(1::real, ARRAY[1536])::vector"
        " <-> array_fill(0::real, ARRAY[1536])::vector)::numeric, 3);",
        "SELECT 'hamming=' || (repeat('10', 2048)::bit(4096) <~> repeat('11', 2048)::bit(4096));",
    ]
)


def test_the_embedded_database_computes_with_vectors_on_a_cpu_without_avx512():
    with scratch_directory("portable") as directory:
        cluster = DedicatedPostgres(directory).initdb()
        # Single-user mode: one process, no server to start, every statement in it.
        result = cluster.single_user(VECTOR_WORK, wrapper=["valgrind", "-q"])

    assert result.returncode == 0, result.stderr[-3000:]
    answers = re.findall(r'= "((?:nearest|norm|l2|hamming)=[^"]*)"', result.stdout)
    assert answers == ["nearest=1", "norm=19.596", "l2=39.192", "hamming=2048"], result.stdout
