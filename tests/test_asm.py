"""armvirt.asm: the keystone wrapper (preprocessor, encoders, layout, ELF output, CLI).

Encodings the assembler produces itself (LSE atomics, PSTATE MSRs, system-register names,
MOV expansions, MOVL/ADRP patches) are checked against capstone, an independent decoder, and —
when Debian's GNU binutils for aarch64 are installed — the whole output is compared with GNU as.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capstone import CS_ARCH_ARM64, CS_MODE_ARM, Cs
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from armvirt.asm import (
    LINES_SECTION,
    AsmError,
    _eval_expr,
    _LSE_OPS,
    _SYSREGS,
    assemble,
    read_source_lines,
)

ROOT = Path(__file__).resolve().parent.parent
BASE = 0x40000000
_cs = Cs(CS_ARCH_ARM64, CS_MODE_ARM)


def disasm(code: bytes, base: int = BASE) -> list[str]:
    """One 'mnemonic operands' string per 32-bit word (capstone)."""
    out = []
    for off in range(0, len(code), 4):
        insns = list(_cs.disasm(code[off:off + 4], base + off))
        assert insns, f"capstone cannot decode {code[off:off + 4].hex()} at +{off:#x}"
        out.append(f"{insns[0].mnemonic} {insns[0].op_str}".strip())
    return out


def run_moves(code: bytes) -> dict[str, int]:
    """Interpret a sequence of mov/movz/movn/movk/orr-immediate instructions decoded by
    capstone; returns the final 64-bit register values (W writes zero-extend)."""
    regs: dict[str, int] = {}
    for text in disasm(code):
        mnem, _, rest = text.partition(" ")
        ops = [o.strip() for o in rest.split(",")]
        rd = ops[0]
        width = 64 if rd[0] == "x" else 32
        mask = (1 << width) - 1
        key = "x" + rd[1:]
        imm = int(ops[1].lstrip("#"), 0)
        shift = int(ops[2].split("#")[1], 0) if len(ops) > 2 else 0
        if mnem == "mov":
            val = imm & mask
        elif mnem == "movz":
            val = (imm << shift) & mask
        elif mnem == "movn":
            val = ~(imm << shift) & mask
        elif mnem == "movk":
            val = (regs.get(key, 0) & ~(0xFFFF << shift) | imm << shift) & mask
        else:
            raise AssertionError(f"unexpected instruction {text!r}")
        regs[key] = val
    return regs


# --------------------------------------------------------------------------------------------
# Labels, symbols, entry, source lines

def test_labels_symbols_and_entry() -> None:
    prog = assemble(
        """
        nop
        .global _start
    _start: mov x0, #1
    loop:   b loop
    data:   .quad data, _start
    end:
        """)
    assert prog.base == BASE
    assert prog.symbols == {"_start": BASE + 4, "loop": BASE + 8, "data": BASE + 12,
                            "end": BASE + 28}
    assert prog.entry == BASE + 4
    assert struct.unpack_from("<2Q", prog.code, 12) == (BASE + 12, BASE + 4)
    assert disasm(prog.code[4:12], BASE + 4) == ["mov x0, #1", f"b #{BASE + 8:#x}"]
    assert prog.symbol_attrs["_start"].binding == "global"


def test_entry_defaults_to_base_and_custom_base() -> None:
    prog = assemble("a: nop\nb a", base=0x80000)
    assert prog.entry == 0x80000 and prog.symbols == {"a": 0x80000}
    assert disasm(prog.code, 0x80000)[1] == "b #0x80000"


def test_labels_in_untaken_if_are_absent() -> None:
    prog = assemble(".if 0\nskipped: nop\n.else\ntaken: nop\n.endif\nafter: nop")
    assert prog.symbols == {"taken": BASE, "after": BASE + 4}
    assert len(prog.code) == 8


def test_source_lines_map_addresses_to_statements() -> None:
    prog = assemble(
        "_start:\n"                     # 1
        "    nop\n"                     # 2
        "    mov x0, #0x123456789\n"    # 3: three instructions
        ".if 0\n"                       # 4
        "    brk #1\n"                  # 5 (not assembled)
        ".endif\n"                      # 6
        ".equ K, 3\n"                   # 7 (no bytes)
        "    .balign 16\n"              # 8: padding
        "tail: .word K\n")              # 9
    assert prog.source_lines == [(BASE, "<string>", 2), (BASE + 4, "<string>", 3),
                                 (BASE + 16, "<string>", 9)]
    prog2 = assemble("nop\n.balign 16\n.word 1")
    assert prog2.source_lines == [(BASE, "<string>", 1), (BASE + 4, "<string>", 2),
                                  (BASE + 16, "<string>", 3)]
    assert prog2.line_for(BASE + 8) == ("<string>", 2)
    assert prog2.line_for(BASE + 100) is None


def test_macro_expansion_maps_to_invocation_line() -> None:
    prog = assemble(".macro two\nnop\nnop\n.endm\nnop\ntwo\nnop")
    assert prog.source_lines == [(BASE, "<string>", 5), (BASE + 4, "<string>", 6),
                                 (BASE + 12, "<string>", 7)]


# --------------------------------------------------------------------------------------------
# Comments, C preprocessor, includes

def test_comments_are_stripped_and_immediates_survive() -> None:
    prog = assemble(
        "# a hash comment line\n"
        "    mov x0, #5      // line comment\n"
        "    /* block\n"
        "       comment */ mov x1, #6\n"
        '    .asciz "http://x/*y*/"  // strings keep // and /* */\n'
        "  # indented hash comment\n")
    assert disasm(prog.code[:8]) == ["mov x0, #5", "mov x1, #6"]
    assert prog.code[8:] == b"http://x/*y*/\0"
    assert [line for _, _, line in prog.source_lines] == [2, 4, 5]


def test_defines_from_argument_and_source() -> None:
    src = """
    #define WIDTH 8
    #define AREA (WIDTH * HEIGHT)
    WIDTHX = 3
        mov x0, #AREA
        mov x1, #WIDTHX      // whole words only: WIDTHX is a different symbol
        .ascii "WIDTH"
    """
    prog = assemble(src, defines={"HEIGHT": 4})
    assert disasm(prog.code[:8]) == ["mov x0, #0x20", "mov x1, #3"]
    assert prog.code[8:] == b"WIDTH"


def test_conditional_directives() -> None:
    src = """
    #ifdef A
        mov x0, #1
    #else
        mov x0, #2
    #endif
    #ifndef B
        mov x1, #1
    #endif
    #if defined(A) && !defined(B)
        mov x2, #1
    #elif A > 2
        mov x2, #2
    #else
        mov x2, #3
    #endif
    #define C
    #undef C
    #if defined C
        brk #0
    #endif
    .ifdef A
        mov x3, #7
    .endif
    """
    assert disasm(assemble(src, defines={"A": 3}).code) == [
        "mov x0, #1", "mov x1, #1", "mov x2, #1", "mov x3, #7"]
    assert disasm(assemble(src, defines={"A": 3, "B": 1}).code) == [
        "mov x0, #1", "mov x2, #2", "mov x3, #7"]
    assert disasm(assemble(src).code) == ["mov x0, #2", "mov x1, #1", "mov x2, #3"]


def test_include_and_dot_include(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "consts.h").write_text("#define MAGIC 0x2a\n.equ OTHER, 7\n")
    (tmp_path / "local.S").write_text("local_label:\n    mov x1, #OTHER\n")
    main = tmp_path / "main.S"
    main.write_text('#include "consts.h"\n.include "local.S"\n    mov x0, #MAGIC\n')
    prog = assemble(main.read_text(), include_dirs=[tmp_path / "inc"], filename=str(main))
    assert disasm(prog.code) == ["mov x1, #7", "mov x0, #0x2a"]
    assert prog.symbols == {"local_label": BASE}
    assert prog.source_lines == [(BASE, str(tmp_path / "local.S"), 2),
                                 (BASE + 4, str(main), 3)]
    with pytest.raises(AsmError, match="cannot find include file 'missing.h'"):
        assemble('#include "missing.h"')


def test_error_location_inside_included_file(tmp_path: Path) -> None:
    (tmp_path / "bad.S").write_text("nop\nnop\nfrobnicate x0\n")
    main = tmp_path / "main.S"
    main.write_text('nop\n.include "bad.S"\n')
    with pytest.raises(AsmError) as ei:
        assemble(main.read_text(), filename=str(main))
    assert (ei.value.file, ei.value.line) == (str(tmp_path / "bad.S"), 3)
    assert ei.value.statement == "frobnicate x0"


# --------------------------------------------------------------------------------------------
# Macros and local labels

def test_numeric_local_labels() -> None:
    prog = assemble(
        "1:  b 1f\n"        # +0  -> +8
        "    b 1b\n"        # +4  -> +0
        "1:  cbz x0, 1b\n"  # +8  -> +8 (its own label)
        "2:  b 2f\n"        # +12 -> +16
        "2:  b 1b\n")       # +16 -> +8
    assert disasm(prog.code) == [f"b #{BASE + 8:#x}", f"b #{BASE:#x}", f"cbz x0, #{BASE + 8:#x}",
                                 f"b #{BASE + 16:#x}", f"b #{BASE + 8:#x}"]
    assert prog.symbols == {}            # local labels are not symbols
    # Vector arrangements and hex literals are not local-label references.
    assert disasm(assemble("ld1 {v0.16b}, [x0]\nmov x0, #0x1f").code) == [
        "ld1 {v0.16b}, [x0]", "mov x0, #0x1f"]


def test_macros_parameters_and_unique_labels() -> None:
    prog = assemble(r"""
    .macro load reg, val=3, rest:vararg
        mov \reg, #\val
    .endm
    .macro spin
    1:  b 1b
    l\@: b l\@
    .endm
        load x0
        load x1, 5
        load val=9, reg=x2
        spin
        spin
    """)
    assert disasm(prog.code) == [
        "mov x0, #3", "mov x1, #5", "mov x2, #9",
        f"b #{BASE + 12:#x}", f"b #{BASE + 16:#x}", f"b #{BASE + 20:#x}", f"b #{BASE + 24:#x}"]
    assert set(prog.symbols) == {"l3", "l4"}      # GNU: \@ counts every macro expansion


def test_rept_irp_irpc() -> None:
    prog = assemble(r"""
    .equ N, 2
    .rept N
    1:  b 1b
    .endr
    .irp r, 3, 4
        mov x\r, #\r
    .endr
    .irpc c, 56
        mov x\c, #0
    .endr
    """)
    assert disasm(prog.code) == [f"b #{BASE:#x}", f"b #{BASE + 4:#x}", "mov x3, #3", "mov x4, #4",
                                 "mov x5, #0", "mov x6, #0"]


def test_req_aliases_and_inst() -> None:
    prog = assemble("ctx .req x19\nmov ctx, x0\n.unreq ctx\n.inst 0xd503201f, 0xd503205f")
    assert disasm(prog.code) == ["mov x19, x0", "nop", "wfe"]


# --------------------------------------------------------------------------------------------
# Encodings keystone lacks, checked with capstone

def _lse_cases() -> list[str]:
    cases = []
    regs = itertools.cycle([(1, 2, 3), (4, 5, 6), (29, 30, 0), (7, 8, 9)])
    for op in _LSE_OPS:
        for order, size in itertools.product(["", "a", "al", "l"], ["", "b", "h"]):
            for width in (("w", "x") if not size else ("w",)):
                s, t, n = next(regs)
                base = "sp" if n == 0 else f"x{n}"
                cases.append(f"ld{op}{order}{size} {width}{s}, {width}{t}, [{base}]")
        for order, size in itertools.product(["", "l"], ["", "b", "h"]):
            for width in (("w", "x") if not size else ("w",)):
                s, _, n = next(regs)
                cases.append(f"st{op}{order}{size} {width}{s}, [x{n}]")
    for mnem in ("swp", "cas"):
        for order, size in itertools.product(["", "a", "al", "l"], ["", "b", "h"]):
            for width in (("w", "x") if not size else ("w",)):
                s, t, n = next(regs)
                cases.append(f"{mnem}{order}{size} {width}{s}, {width}{t}, [x{n}]")
    for order in ("", "a", "al", "l"):
        cases.append(f"casp{order} x0, x1, x2, x3, [x4]")
        cases.append(f"casp{order} w6, w7, w28, w29, [sp]")
    return cases


LSE_CASES = _lse_cases()


def test_every_lse_form_matches_capstone() -> None:
    assert len(LSE_CASES) > 200
    prog = assemble("\n".join(LSE_CASES))
    assert disasm(prog.code) == LSE_CASES


def test_lse_operand_variants_and_errors() -> None:
    # [xN, #0] is accepted; LDADD with the zero register as Rt is the STADD alias.
    assert disasm(assemble("ldadd w0, wzr, [x1, #0]\nswpalb w0, w1, [x2,#0]").code) == [
        "stadd w0, [x1]", "swpalb w0, w1, [x2]"]
    for bad, why in [("ldadd x0, w1, [x2]", "all W or all X"),
                     ("ldaddb x0, x1, [x2]", "take W registers"),
                     ("casp x1, x2, x3, x4, [x0]", "consecutive"),
                     ("ldadd x0, x1, [x2, #8]", r"\[Xn\|SP\]"),
                     ("stadd x0, x1, [x2]", "takes 1 register")]:
        with pytest.raises(AsmError, match=why):
            assemble(bad)


def test_vhe_and_later_system_registers_match_capstone() -> None:
    read_only = {"id_aa64mmfr2_el1"}
    lines = []
    for name in _SYSREGS:
        lines.append(f"mrs x3, {name}")
        if name not in read_only:
            lines.append(f"msr {name.upper()}, x4")
    got = disasm(assemble("\n".join(lines)).code)
    assert got == [line.lower() for line in lines]


def test_pstate_immediates_match_capstone() -> None:
    src = ["msr pan, #1", "msr pan, #0", "msr uao, #1", "msr dit, #0", "msr ssbs, #1",
           "msr daifset, #2"]
    assert disasm(assemble("\n".join(src)).code) == src
    with pytest.raises(AsmError, match="must be 0 or 1"):
        assemble("msr pan, #2")


@settings(max_examples=150)
@given(st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1))
def test_mov_x_any_constant(value: int) -> None:
    prog = assemble(f"mov x7, #{value}")
    assert 1 <= len(prog.code) // 4 <= 4
    assert run_moves(prog.code) == {"x7": value & ((1 << 64) - 1)}


@settings(max_examples=80)
@given(st.integers(min_value=-(1 << 31), max_value=(1 << 32) - 1))
def test_mov_w_any_constant(value: int) -> None:
    prog = assemble(f"mov w3, #{value:#x}" if value >= 0 else f"mov w3, #-{-value:#x}")
    assert 1 <= len(prog.code) // 4 <= 2
    assert run_moves(prog.code) == {"x3": value & 0xFFFFFFFF}


def test_mov_expansion_choices() -> None:
    # Encodable in one instruction: left to keystone (identical to GNU as).
    for imm, text in [("0x10000", "mov x0, #0x10000"), ("-1", "mov x0, #-1"),
                      ("0x5555555555555555", "mov x0, #0x5555555555555555")]:
        assert disasm(assemble(f"mov x0, #{imm}").code) == [text]
    # MOVN+MOVK when most halfwords are 0xffff.
    code = assemble("mov x1, #0xffff1234ffff5678").code
    assert [t.split()[0] for t in disasm(code)] == ["mov", "movk"] and len(code) == 8
    assert disasm(code)[0].startswith("mov x1, #-")             # the MOVN alias
    assert run_moves(code) == {"x1": 0xFFFF1234FFFF5678}
    # Constants from .equ and expressions are evaluated; out of range is an error.
    assert run_moves(assemble(".equ K, 0x1234\nmov x2, #(K << 32) | 0x99").code) == {
        "x2": 0x1234_0000_0099}
    with pytest.raises(AsmError, match="does not fit in a W register"):
        assemble("mov w0, #0x100000000")


def test_movl_and_adrp_are_patched_after_layout() -> None:
    base = 0x40001FF0                    # crosses a page boundary: ADRP deltas matter
    prog = assemble("""
    _start:
        movl x0, target
        movl w1, target + 8
        movl x2, 0x123456789abcdef0
        adrp x3, target
        adrp x4, _start
        adr  x5, target
        .balign 16
    target: .quad 0
    """, base=base)
    t = prog.symbols["target"]
    regs = run_moves(prog.code[:40])
    assert regs == {"x0": t, "x1": t + 8, "x2": 0x123456789ABCDEF0}
    text = disasm(prog.code[40:52], base + 40)
    assert text == [f"adrp x3, #{t & ~0xFFF:#x}", f"adrp x4, #{base & ~0xFFF:#x}",
                    f"adr x5, #{t:#x}"]


def test_org_incbin_and_alignment_fill(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(bytes(range(10)))
    src = tmp_path / "s.S"
    src.write_text("""
    vectors:
        nop
        .org 0x10, 0xaa
        b vectors
        .org vectors + 0x20
        .incbin "blob.bin", 2, 5
        .balign 8, 0xcc
        .byte 1
        .balign 4, 0
        .balignl 16, 0xd503201f
    end:
    """)
    prog = assemble(src.read_text(), filename=str(src))
    c = prog.code
    assert c[4:16] == b"\xaa" * 12
    assert disasm(c[16:20], BASE + 16) == [f"b #{BASE:#x}"]
    assert c[20:32] == bytes(12)
    assert c[32:37] == bytes([2, 3, 4, 5, 6])
    assert c[37:40] == b"\xcc" * 3
    assert c[40:44] == b"\x01\0\0\0" and c[44:48] == bytes.fromhex("1f2003d5")
    assert prog.symbols["end"] == BASE + 48
    with pytest.raises(AsmError, match="move backwards"):
        assemble("nop\nnop\n.org 4")


def test_sections_types_and_sizes() -> None:
    prog = assemble("""
        .section .text.boot, "ax"     // would segfault keystone
        .global main
        .type main, %function
    main:
        nop
        ret
        .size main, . - main
        .data
        .weak blob
        .type blob, %object
    blob: .quad 1
        .size blob, 8
    """)
    a = prog.symbol_attrs
    assert (a["main"].kind, a["main"].binding, a["main"].size) == ("function", "global", 8)
    assert (a["blob"].kind, a["blob"].binding, a["blob"].size) == ("object", "weak", 8)
    assert prog.symbols == {"main": BASE, "blob": BASE + 8}


def test_error_directive_only_when_assembled() -> None:
    assert len(assemble('.if 0\n.error "never"\n.endif\nnop').code) == 4
    with pytest.raises(AsmError, match=r"<string>:3: \.error: too big"):
        assemble('.equ X, 5\n.if X > 4\n.error "too big"\n.endif')


# --------------------------------------------------------------------------------------------
# Expressions: our evaluator (used for mov expansion and .rept) agrees with keystone

_exprs = st.recursive(
    st.integers(min_value=0, max_value=1000).map(str),
    lambda sub: st.one_of(
        st.tuples(sub, st.sampled_from(["+", "-", "*", "&", "|", "^", "<<", ">>", "==", "!=",
                                        "<", ">=", "&&", "||", "/", "%"]), sub)
        .map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        sub.map(lambda s: f"({s})"),
        st.tuples(st.sampled_from(["-", "~", "!"]), sub).map(lambda t: f"{t[0]}({t[1]})"),
    ),
    max_leaves=6,
)


@settings(max_examples=120)
@given(_exprs)
def test_expression_evaluator_matches_keystone(expr: str) -> None:
    ours = _eval_expr(expr, lambda _n: None)
    assume(ours is not None)            # division by zero, shift >= 64
    got = struct.unpack("<Q", assemble(f".quad {expr}").code)[0]
    assert got == ours & ((1 << 64) - 1), expr


# --------------------------------------------------------------------------------------------
# Errors

@pytest.mark.parametrize("src, line, pattern", [
    ("nop\nb nowhere\nnop", 2, "undefined symbol 'nowhere'"),
    ("nop\nmov x0, #MISSING", 2, "undefined symbol 'MISSING'"),
    ("nop\n.quad 8 + gone", 2, "undefined symbol 'gone'"),
    ("a: nop\n.quad a - gone", 2, "undefined symbol 'gone'"),   # keystone: silently a - 0
    ("nop\nmovl x0, gone", 2, "undefined symbol 'gone'"),
    ("nop\nadrp x0, gone", 2, "undefined symbol 'gone'"),
    ("nop\nnop\nfrobnicate x0\nnop", 3, "Invalid mnemonic"),
    ("nop\nmsr sctlr_el9, x0", 2, "system register"),
    ("b 1f", 1, "no following '1:'"),
    ("b 1b", 1, "no preceding '1:'"),
    ("a: nop\na: nop", 2, "already defined at <string>:1"),
    (".if 1\nnop", 1, "unterminated .if"),
    ("#if 1\nnop", 1, "unterminated #if"),
    (".rept COUNT\nnop\n.endr", 1, "not a constant"),
    (".macro m\nnop\n", 1, "without a matching"),
    ("#define F(x) x", 1, "function-like"),
    # a literal-pool load before the culprit must not be blamed for it
    ("ldr x0, =0x123456789\nnop\nsub x1, x1, #(1 << 26)", 3, "Unknown error"),
    ("ldr x0, =label\nsub x1, x1, #(1 << 26)\nlabel: nop", 2, "Unknown error"),
])
def test_errors_name_file_line_and_cause(src: str, line: int, pattern: str) -> None:
    with pytest.raises(AsmError, match=pattern) as ei:
        assemble(src)
    assert ei.value.file == "<string>" and ei.value.line == line
    assert "\n" not in str(ei.value)


def test_error_in_macro_expansion_names_invocation() -> None:
    with pytest.raises(AsmError) as ei:
        assemble(".macro m\nnop\nbogus\n.endm\nnop\nnop\nm")
    assert ei.value.line == 7 and "macro 'm'" in str(ei.value)


def test_error_is_bisected_in_a_long_source() -> None:
    lines = [f"l{i}: add x{i % 29}, x{(i + 1) % 29}, #{i % 4096}" for i in range(1500)]
    lines[1234] = "add x0, x1, #5000"       # immediate out of range
    lines.append("b l0")
    with pytest.raises(AsmError) as ei:
        assemble("\n".join(lines))
    assert ei.value.line == 1235 and ei.value.statement == "add x0, x1, #5000"


@pytest.mark.parametrize("src", [
    "add x0, x0, :lo12:sym\nsym: nop",
    "ldr x0, [x1, :lo12:sym]\nsym: nop",
    "movz x0, #:abs_g1:sym\nsym: nop",
    "movk x0, #:abs_g0_nc:sym\nsym: nop",
])
def test_abort_class_constructs_are_rejected_before_keystone(src: str) -> None:
    with pytest.raises(AsmError, match="relocation operator"):
        assemble(src)
    assert assemble("nop").code == bytes.fromhex("1f2003d5")   # still alive


@pytest.mark.skipif(os.environ.get("ARMVIRT_ASM_INPROCESS") == "1",
                    reason="keystone runs in-process: its abort would kill the test run")
def test_keystone_abort_is_contained_and_located() -> None:
    # A conditional branch whose target ends up > 1 MiB away: LLVM aborts ("fixup value out
    # of range").  The worker dies, we report the branch, and the next call works.
    with pytest.raises(AsmError, match="out of range") as ei:
        assemble("nop\nb.eq far\nnop\n.space 0x200000\nfar: nop")
    assert ei.value.line == 2
    assert len(assemble("b.eq near\nnear: nop").code) == 8


# --------------------------------------------------------------------------------------------
# Output files

def test_elf_round_trip(tmp_path: Path) -> None:
    base = 0x40080000
    prog = assemble("""
        .global _start
        .type _start, %function
    _start:
        bl helper
        b .
    helper:
        ret
        .size helper, . - helper
    table: .quad _start
    """, base=base, filename="prog.S")
    path = tmp_path / "prog.elf"
    prog.to_elf(path)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 64 and elf.little_endian
        assert elf["e_machine"] == "EM_AARCH64" and elf["e_type"] == "ET_EXEC"
        assert elf["e_entry"] == base
        segs = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        assert len(segs) == 1
        seg = segs[0]
        assert seg["p_vaddr"] == base and seg["p_filesz"] == seg["p_memsz"] == len(prog.code)
        assert seg["p_flags"] == P_FLAGS.PF_R | P_FLAGS.PF_W | P_FLAGS.PF_X
        assert seg["p_offset"] % seg["p_align"] == base % seg["p_align"]
        assert seg.data() == prog.code
        text = elf.get_section_by_name(".text")
        assert text["sh_addr"] == base and text.data() == prog.code
        symtab = elf.get_section_by_name(".symtab")
        syms = {s.name: s for s in symtab.iter_symbols() if s.name}
        assert {n: s["st_value"] for n, s in syms.items()} == prog.symbols
        assert syms["_start"]["st_info"]["type"] == "STT_FUNC"
        assert syms["_start"]["st_info"]["bind"] == "STB_GLOBAL"
        assert syms["helper"]["st_info"]["bind"] == "STB_LOCAL"
        assert syms["helper"]["st_size"] == 4
        assert syms["table"]["st_info"]["type"] == "STT_NOTYPE"
        assert syms["table"]["st_shndx"] == elf.get_section_index(".text")
        lines = json.loads(elf.get_section_by_name(LINES_SECTION).data())
        assert lines["files"] == ["prog.S"]
    assert read_source_lines(path) == prog.source_lines
    assert [ln for _, _, ln in prog.source_lines] == [5, 6, 8, 10]

    prog.to_bin(tmp_path / "prog.bin")
    assert (tmp_path / "prog.bin").read_bytes() == prog.code


def test_cli(tmp_path: Path) -> None:
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "k.h").write_text("#define K 7\n")
    src = tmp_path / "t.S"
    src.write_text('#include "k.h"\n_start: mov x0, #K\n mov x1, #EXTRA\n')
    elf, binf = tmp_path / "t.elf", tmp_path / "t.bin"
    cmd = [sys.executable, "-m", "armvirt.asm", str(src), "-o", str(elf), "--bin", str(binf),
           "--base", "0x80000", "-D", "EXTRA=0x10", "-I", str(tmp_path / "inc")]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert disasm(binf.read_bytes(), 0x80000) == ["mov x0, #7", "mov x1, #0x10"]
    with open(elf, "rb") as f:
        assert ELFFile(f)["e_entry"] == 0x80000

    src.write_text("nop\nb missing\n")
    r = subprocess.run([sys.executable, "-m", "armvirt.asm", str(src), "-o", str(elf)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert f"{src}:2: undefined symbol 'missing'" in r.stderr


def test_two_thousand_lines_are_fast() -> None:
    body = []
    for i in range(250):
        body += [f"f{i}:", "    stp x29, x30, [sp, #-16]!", "1:  subs x0, x0, #1",
                 "    b.ne 1b", f"    ldadd x{i % 8}, x9, [x10]", "    mov x1, #0x123456789",
                 f"    bl f{(i + 1) % 250}", "    ldp x29, x30, [sp], #16"]
    src = "\n".join(body)
    assert src.count("\n") + 1 == 2000
    assemble("nop")                              # start the keystone worker
    t = time.perf_counter()
    prog = assemble(src)
    elapsed = time.perf_counter() - t
    assert len(prog.symbols) == 250
    assert elapsed < 1.0, f"{elapsed:.2f} s"


# --------------------------------------------------------------------------------------------
# GNU as oracle

GNU_AS = shutil.which("aarch64-linux-gnu-as") or "/usr/bin/aarch64-linux-gnu-as"
GNU_LD = shutil.which("aarch64-linux-gnu-ld") or "/usr/bin/aarch64-linux-gnu-ld"
GNU_OBJCOPY = shutil.which("aarch64-linux-gnu-objcopy") or "/usr/bin/aarch64-linux-gnu-objcopy"

REPRESENTATIVE = r"""
// Valid for both GNU as and armvirt.asm.
.equ UART_BASE, 0x09000000
.equ STACK_SIZE, 0x1000
.macro save_pair a, b
    stp \a, \b, [sp, #-16]!
.endm
.macro spin
l\@: wfe
    b l\@
.endm
    .text
    .global _start
    .type _start, %function
_start:
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    cmp     x0, #2
    b.ne    1f
    msr     hcr_el2, xzr
    mrs     x1, sctlr_el12
    msr     cntv_ctl_el02, xzr
    msr     pan, #1
    msr     uao, #0
1:  adr     x1, stack_top
    mov     sp, x1
    ldr     x2, =0x123456789abcdef0
    ldr     x3, =message
    bl      puts
    save_pair x29, x30
    adrp    x4, table
    ldr     x5, table
    movz    x6, #0x1234, lsl #16
    movk    x6, #0x5678
    mov     x7, #0xffff0000
    mov     w8, #-2
    mov     x9, #0x5555555555555555
    .inst   0xd503201f
    tbz     x0, #3, 2f
    cbnz    w1, 2f
2:  dsb     sy
    isb
    tlbi    vmalle1
    dc      civac, x0
    ldxr    x0, [x1]
    stxr    w2, x0, [x1]
    fmov    d0, #1.0
    ld1     {v0.16b, v1.16b}, [x0]
    spin
    spin
puts:
    ldrb    w4, [x3], #1
    cbz     w4, 3f
    strb    w4, [x2]
    b       puts
3:  ret
    .ltorg
    .balign 4096
table:
    .quad   _start, puts, table
    .word   3f - table
    .hword  0x1234
    .byte   1, 2, 3
message:
    .asciz  "hello, world\n"
3:
    .balign 8, 0
    .rept 4
    .quad 0
    .endr
    .irp reg, x0, x1
    mov \reg, #0
    .endr
    .balign 16
    .space  STACK_SIZE
stack_top:
"""


def gnu_assemble(tmp_path: Path, source: str, base: int) -> bytes:
    tools = (GNU_AS, GNU_LD, GNU_OBJCOPY)
    missing = [t for t in tools if not Path(t).exists()]
    if missing:
        pytest.skip(f"GNU binutils for aarch64 not installed ({', '.join(missing)} missing; "
                    "optional: Debian package binutils-aarch64-linux-gnu)")
    src, obj, elf, binf = (tmp_path / n for n in ("g.S", "g.o", "g.elf", "g.bin"))
    src.write_text(source)
    subprocess.run([GNU_AS, "-march=armv8.5-a+crc", str(src), "-o", str(obj)], check=True)
    subprocess.run([GNU_LD, f"-Ttext={base:#x}", "-e", "_start", str(obj), "-o", str(elf)],
                   check=True, capture_output=True)
    subprocess.run([GNU_OBJCOPY, "-O", "binary", str(elf), str(binf)], check=True)
    return binf.read_bytes()


@pytest.mark.parametrize("base", [0x40000000, 0x40081000])
def test_matches_gnu_as_on_representative_source(tmp_path: Path, base: int) -> None:
    gnu = gnu_assemble(tmp_path, REPRESENTATIVE, base)
    ours = assemble(REPRESENTATIVE, base=base).code
    assert len(ours) == len(gnu)
    diffs = [(off, ours[off:off + 4].hex(), gnu[off:off + 4].hex())
             for off in range(0, len(gnu), 4) if ours[off:off + 4] != gnu[off:off + 4]]
    assert not diffs


def test_lse_and_sysregs_match_gnu_as(tmp_path: Path) -> None:
    sysregs = [f"mrs x3, {name}" for name in _SYSREGS if name != "zcr_el12"]  # SVE: GNU wants +sve
    source = "_start:\n" + "\n".join(LSE_CASES + sysregs) + "\n"
    gnu = gnu_assemble(tmp_path, source, BASE)
    assert assemble(source).code == gnu


# Common A64 forms (integer, load/store, FP/SIMD, system): keystone must agree with GNU as.
# (keystone 0.9.2 rejects the crypto extension: aese, sha256h, pmull .1q.)
WIDE = """_start:
add x0, x1, x2, lsl #3; add w0, w1, #4095; add x0, sp, #1, lsl #12; adds x3, x4, w5, uxtw #2
sub sp, sp, #0x100; subs xzr, x1, #1; cmp w0, #0; cmn x1, #5; neg x0, x1
and x0, x1, #0xff00; orr w2, w3, #0x80000001; eor x4, x5, x6, ror #7; tst x0, #0x8
bic x1, x2, x3; mvn w0, w1; lsl x0, x1, #4; lsr w2, w3, #31; asr x4, x5, x6; ror x7, x8, #13
ubfx x0, x1, #4, #8; sbfiz w2, w3, #2, #5; bfi x4, x5, #16, #16; extr x0, x1, x2, #17
madd x0, x1, x2, x3; msub w0, w1, w2, w3; mul x0, x1, x2; smull x0, w1, w2; umulh x3, x4, x5
sdiv w0, w1, w2; udiv x3, x4, x5; clz x0, x1; rbit w2, w3; rev x4, x5; rev16 w6, w7
csel x0, x1, x2, eq; csinc w3, w4, w5, ne; cset x6, hs; csetm w7, lt; cinc x8, x9, gt
ccmp x0, #3, #4, le; ccmn w1, w2, #0, mi; ldr x0, [x1]; ldr w2, [x3, #4]; ldr x4, [x5, #-8]!
ldr x6, [x7], #16; ldr x8, [x9, x10, lsl #3]; ldr w11, [x12, w13, sxtw #2]
ldrb w0, [x1, #1]; ldrsb x2, [x3]; ldrh w4, [x5, #2]; ldrsh w6, [x7]; ldrsw x8, [x9, #4]
ldur x0, [x1, #-1]; str x0, [sp, #8]; strb w1, [x2, x3]; strh w4, [x5], #2
stur w6, [x7, #3]; ldp x0, x1, [sp, #16]; stp w2, w3, [x4, #-8]!; ldp x5, x6, [sp], #32
ldpsw x7, x8, [x9]; ldnp q0, q1, [x0]; ldxr w0, [x1]; ldxrb w2, [x3]; ldaxr x4, [x5]
stlxr w6, x7, [x8]; ldar x9, [x10]; stlr w11, [x12]; ldxp x0, x1, [x2]
stxp w3, x4, x5, [x6]; prfm pstl2strm, [x0, #64]; fmov s0, w1; fmov x2, d3; fmov d4, #-2.5
fadd d0, d1, d2; fsub s3, s4, s5; fmul d6, d7, d8; fdiv s9, s10, s11; fmadd d0, d1, d2, d3
fsqrt d4, d5; fabs s6, s7; fneg d8, d9; fcmp d0, #0.0; fcmpe s1, s2; fcsel d3, d4, d5, vs
fcvt d0, s1; fcvtzs x0, d1; fcvtzu w2, s3; scvtf d4, x5; ucvtf s6, w7; frintz d0, d1
ldr q0, [x0, #16]; str d1, [sp, #8]; ldr s2, [x1], #4; add v0.4s, v1.4s, v2.4s
sub v3.2d, v4.2d, v5.2d; mul v6.8h, v7.8h, v8.8h; and v9.16b, v10.16b, v11.16b
orr v0.16b, v1.16b, v1.16b; mov v2.16b, v3.16b; movi v4.2d, #0; movi v5.4s, #0x12, lsl #8
dup v6.4s, w7; ins v8.s[1], w9; umov w10, v11.h[3]; ext v12.16b, v13.16b, v14.16b, #3
cmeq v0.4s, v1.4s, #0; addv s0, v1.4s; uaddlv h2, v3.16b; zip1 v4.8b, v5.8b, v6.8b
tbl v7.16b, {v8.16b}, v9.16b; ld1 {v0.4s, v1.4s}, [x0], #32; st1 {v2.2d}, [x1]
ld4r {v0.8b, v1.8b, v2.8b, v3.8b}, [x2]; fadd v0.2d, v1.2d, v2.2d
fmla v3.4s, v4.4s, v5.s[1]; shl v6.2d, v7.2d, #3; ushr v8.4s, v9.4s, #5; crc32cx w0, w1, x2
mrs x0, tpidr_el0; msr tpidr_el1, x1; mrs x2, midr_el1; mrs x3, mpidr_el1; msr vbar_el2, x4
msr hcr_el2, x5; msr vttbr_el2, x6; msr vtcr_el2, x7; msr elr_el2, x8; msr spsr_el2, x9
mrs x10, esr_el2; mrs x11, far_el2; mrs x12, hpfar_el2; msr cptr_el2, x13; msr mdcr_el2, x14
msr cnthctl_el2, x15; msr cntvoff_el2, x16; msr vpidr_el2, x17; msr vmpidr_el2, x18
msr sctlr_el2, x19; msr tcr_el2, x20; msr mair_el2, x21; msr ttbr0_el2, x22
mrs x23, cntpct_el0; mrs x24, cntvct_el0; msr cntv_cval_el0, x25; msr cntp_ctl_el0, x26
msr icc_sre_el2, x0; msr ich_hcr_el2, x1; msr ich_lr0_el2, x2; mrs x3, ich_vtr_el2
msr icc_pmr_el1, x4; mrs x5, icc_iar1_el1; msr icc_eoir1_el1, x6; msr icc_igrpen1_el1, x7
msr ich_vmcr_el2, x8; msr daifclr, #0xf; msr spsel, #0; mrs x0, daif; msr nzcv, x1
mrs x2, fpcr; msr fpsr, x3; mrs x4, pmccntr_el0; msr pmcr_el0, x5; sys #0, c7, c5, #0, x0
sysl x1, #0, c1, c0, #0; at s1e1r, x0; at s12e1w, x1; tlbi vae2is, x2; tlbi ipas2e1is, x3
tlbi alle2; tlbi vmalls12e1is; dc zva, x4; dc cvau, x5; ic ivau, x6; ic ialluis; dmb ishld
dsb nsh; isb; hint #34; yield; sev; sevl; wfi; clrex; brk #0x3e8; hlt #0; eret; svc #0x80
hvc #0xffff; smc #1; ret x1; br x2; blr x3
"""


def test_common_instructions_match_gnu_as(tmp_path: Path) -> None:
    gnu = gnu_assemble(tmp_path, WIDE, BASE)
    ours = assemble(WIDE).code
    assert len(ours) == len(gnu) > 700
    diffs = [(off, ours[off:off + 4].hex(), gnu[off:off + 4].hex())
             for off in range(0, len(gnu), 4) if ours[off:off + 4] != gnu[off:off + 4]]
    assert not diffs
