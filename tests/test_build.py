"""armvirt.build: every image armvirt ships builds with the toolchain (clang's assembler and lld
from the ziglang wheel), and what it produces is what the debugger and gdb rely on: one PT_LOAD
at the load address equal to the flat .bin, typed and sized ELF symbols, DWARF line tables that
name the right source line for each instruction (checked against capstone, an independent
decoder), one-line errors.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from capstone import CS_ARCH_ARM64, CS_MODE_ARM, Cs
from elftools.elf.elffile import ELFFile

from armvirt import build, memmap
from armvirt.build import BuildError, assemble
from armvirt.debug.symbols import dwarf_lines, elf_symbols
from armvirt.hv import abi

ROOT = Path(__file__).resolve().parent.parent
_cs = Cs(CS_ARCH_ARM64, CS_MODE_ARM)


def _images():
    yield from ((f"firmware:{m}", m) for m in build.HV_MODES)
    yield from ((f"guest:{p.name}", p) for p in build.guest_sources())
    yield from ((f"image:{p.name}", p) for p in sorted((ROOT / "tests/images").glob("*.S")))
    yield from ((f"workload:{p.name}", p)
                for p in sorted((ROOT / "benchmarks/workloads").glob("*.S")))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """name -> (elf path, load address), every image built once for this module."""
    out = tmp_path_factory.mktemp("images")
    res = {}
    for name, what in _images():
        if name.startswith("firmware:"):
            res[name] = (build.build_firmware(what, out), abi.HV_BASE)
        elif name.startswith("workload:"):
            res[name] = (build.build_guest(what, out, defines={"ITERS": 3}), memmap.RAM_BASE)
        else:
            res[name] = (build.build_guest(what, out, defines=build.hv_guest_defines()),
                         memmap.RAM_BASE)
    return res


def _read(elf: Path):
    with open(elf, "rb") as f:
        e = ELFFile(f)
        loads = [s for s in e.iter_segments() if s["p_type"] == "PT_LOAD"]
        return (e["e_machine"], e["e_type"], e["e_entry"],
                [(s["p_paddr"], s["p_vaddr"], s.data(), s["p_memsz"]) for s in loads],
                elf_symbols(e), dwarf_lines(e))


def _statement(text: str) -> str:
    """The instruction on a source line: labels and comments removed."""
    text = re.split(r"//|/\*", text)[0]
    text = re.sub(r"^\s*(\w+:\s*)+", "", text)
    return text.strip()


@pytest.mark.parametrize("name", [n for n, _ in _images()])
def test_image_builds_with_one_segment_symbols_and_lines(built, name):
    elf, base = built[name]
    machine, etype, entry, loads, syms, lines = _read(elf)
    assert (machine, etype) == ("EM_AARCH64", "ET_EXEC")
    assert len(loads) == 1                                   # the ELF headers are not loaded
    paddr, vaddr, data, memsz = loads[0]
    assert paddr == vaddr == base == entry == syms["_start"].addr
    assert elf.with_suffix(".bin").read_bytes() == data + bytes(memsz - len(data))
    if not name.startswith("workload:"):
        start = syms["_start"]
        assert (start.kind, start.binding) == ("func", "global")
    # Every line row names a real source line that holds a statement, inside the image.
    assert lines
    for addr, file, line in lines:
        assert base <= addr < base + memsz
        text = Path(file).read_text().splitlines()
        assert 1 <= line <= len(text), (file, line)
        assert _statement(text[line - 1]), (file, line, text[line - 1])


# Source mnemonics that the instruction set writes differently (assembler aliases).
ALIASES = {"mov": {"mov", "movz", "movn", "orr"}, "ldr": {"ldr", "mov", "movz", "movn"},
           "lsl": {"lsl", "ubfm"}, "cmp": {"cmp", "subs"}, "bic": {"bic", "and"},
           "orr": {"orr", "mov"}, "tst": {"tst", "ands"}, "mul": {"mul", "madd"},
           "neg": {"neg", "sub"}, "cmn": {"cmn", "adds"}, "mvn": {"mvn", "orn"},
           "sxtw": {"sxtw", "sbfm"}, "uxtb": {"uxtb", "ubfm"}, "ubfx": {"ubfx", "ubfm", "lsr"},
           "sbfx": {"sbfx", "sbfm", "asr"}, "bfi": {"bfi", "bfm", "bfxil"},
           "ldr.w": set()}


MACROS = {m for d in ("firmware", "guests") for p in (ROOT / d).rglob("*")
          if p.suffix in (".S", ".h") for m in re.findall(r"\.macro\s+(\w+)", p.read_text())}


@pytest.mark.parametrize("name", ["guest:hello.S", "guest:psci.S", "firmware:split"])
def test_each_line_row_is_the_instruction_capstone_decodes_there(built, name):
    """The DWARF row at an address names the source statement that encoded the word there."""
    elf, base = built[name]
    *_, loads, _syms, lines = _read(elf)
    data = loads[0][2]
    checked = 0
    for addr, file, line in lines:
        stmt = _statement(Path(file).read_text().splitlines()[line - 1])
        word = data[addr - base:addr - base + 4]
        insn = next(_cs.disasm(word, addr), None)
        src = stmt.split()[0].lower()
        if insn is None or src.startswith(".") or not re.fullmatch(r"[a-z][a-z0-9.]*", src):
            continue        # a macro use, data or a directive: nothing to compare
        if src in MACROS:
            continue
        assert insn.mnemonic in ALIASES.get(src, {src}), (file, line, stmt, insn.mnemonic)
        checked += 1
    assert checked > 10


def test_firmware_symbols_are_typed_and_sized(built):
    elf, _ = built["firmware:split"]
    *_, syms, _lines = _read(elf)
    ge, fp = syms["__guest_exit"], syms["__fpsimd_save"]
    assert (ge.kind, ge.binding) == ("func", "global")
    assert ge.size == fp.addr - ge.addr > 0                  # consecutive functions in switch.S
    pcpus = syms["pcpus"]
    assert (pcpus.kind, pcpus.size) == ("object", abi.PCPU.size * abi.MAX_PES)


def test_c_guest_has_main_lines_in_the_c_file_and_fp_enabled_first(built):
    elf, base = built["guest:hello_c.c"]
    *_, loads, syms, lines = _read(elf)
    assert syms["main"].kind == "func" and syms["main"].size > 0
    assert any(f.endswith("guests/hello_c.c") for _, f, _ in lines)
    assert any(f.endswith("guests/include/crt0.S") for _, f, _ in lines)
    # compiled C may use the SIMD&FP registers anywhere: crt0 enables them before main
    # (CPACR_EL1.FPEN at EL1, CPTR_EL2.TFP at EL2) and touches none itself
    code = loads[0][2]
    start = syms["_start"].addr
    crt0 = list(_cs.disasm(code[start - base:syms["main"].addr - base], start))
    msrs = [i.op_str.split(",")[0] for i in crt0 if i.mnemonic == "msr"]
    assert msrs[:2] == ["cpacr_el1", "cptr_el2"]
    first_fp = next(k for k, i in enumerate(crt0) if re.search(r"\b[qdsvbh]\d+\b", i.op_str)) \
        if any(re.search(r"\b[qdsvbh]\d+\b", i.op_str) for i in crt0) else None
    assert first_fp is None


def test_c_guest_prints_and_powers_off(built, capsys):
    from armvirt.cli import main
    elf, _ = built["guest:hello_c.c"]
    assert main(["run", "--bare", str(elf)]) == 0
    out = capsys.readouterr().out
    assert "Hello from C on armvirt! (EL1)" in out
    assert "first Fibonacci number above 10^12: 1548008755920" in out


# ------------------------------------------------------------------------------ assemble()

def test_assemble_preprocessor_macros_local_labels_and_relocations():
    prog = assemble("""
#define COUNT 3
.macro twice insn
    \\insn
    \\insn
.endm
    .global _start
    .type _start, %function
_start:
    mov     x0, #COUNT
1:  subs    x0, x0, #1
    b.ne    1b
    twice   nop
    adrp    x1, target
    add     x1, x1, :lo12:target
    ldr     x2, =0x123456789abcdef0
    b       .
    .size _start, . - _start
    .balign 4096
    .quad 0
target:
    .quad 0
""", 0x4000_1000, filename="t.S")
    text = [f"{i.mnemonic} {i.op_str}" for i in _cs.disasm(prog.code[:40], prog.base)]
    assert text[0] == "mov x0, #3"
    assert text[2] == f"b.ne #{prog.base + 4:#x}"
    assert text[3:5] == ["nop ", "nop "]
    tgt = prog.symbols["target"]
    assert text[5] == f"adrp x1, #{tgt & ~0xFFF:#x}" 
    assert tgt & 0xFFF == 8 and text[6] == "add x1, x1, #8"
    assert prog.symbol_attrs["_start"].kind == "function"
    assert prog.symbol_attrs["_start"].size == 36
    assert prog.entry == prog.base
    assert prog.line_for(prog.base + 8) == ("t.S", 12)
    assert prog.line_for(prog.base + 12) == ("t.S", 13)      # a macro's code: its use's line


def test_an_alignment_beyond_the_base_is_an_error():
    with pytest.raises(BuildError, match=r"align to 0x1000 bytes, more than the load address "
                                         r"0x40000800"):
        assemble("nop\n.balign 4096\nnop\n", 0x4000_0800)


def test_errors_are_one_line_with_file_and_line():
    with pytest.raises(BuildError) as e:
        assemble("nop\nfrobnicate x0\n", filename="bad.S")
    assert "\n" not in str(e.value)
    assert str(e.value).startswith("bad.S:2:") and "error" in str(e.value)
    with pytest.raises(BuildError, match=r"undefined symbol: nowhere"):
        assemble("b nowhere\n")


def test_an_error_in_a_macro_names_the_line_that_used_it():
    with pytest.raises(BuildError, match=r"^m\.S:5:\d+: error: .*\(in a macro: mvo x0, x1\)$"):
        assemble(".macro bad\n    mvo x0, x1\n.endm\nnop\n    bad\n", filename="m.S")


def test_a_missing_toolchain_is_one_clear_line(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda n, *a: None if n == "ziglang" else real(n, *a))
    with pytest.raises(BuildError, match=r"^the toolchain is missing: pip install ziglang$"):
        assemble("nop\n")


def test_build_cli_reports_errors_in_one_line(tmp_path, monkeypatch, capsys):
    bad = tmp_path / "guests"
    bad.mkdir()
    (bad / "broken.S").write_text("    .global _start\n_start:\n    mvo x0, x1\n")
    monkeypatch.setattr(build, "GUESTS", bad)
    monkeypatch.setattr(build, "BUILD", tmp_path / "build")
    assert build.main(["guests"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.S:3:" in err and err.startswith("armvirt.build: ")
