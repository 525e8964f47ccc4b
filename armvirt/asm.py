"""The armvirt assembler: GNU-style AArch64 assembly to a flat image, symbols and an ELF file.

keystone-engine 0.9.2 (an old LLVM MC fork) is the assembler the project depends on, but it has
gaps, several of them silent or fatal (measured; see /work/shared/reference/keystone.md).  This
module wraps it: a preprocessor written in Python runs first, keystone encodes, and a small
"linker" afterwards learns symbol addresses, patches a few constructs and writes ELF/binary files.

Preprocessing, in order, and the keystone gap each step covers
---------------------------------------------------------------
1. Comments.  ``//``, ``/* */`` and ``#`` lines are removed (keystone: "Unknown token" /
   invalid operand; ``;`` is a statement separator, not a comment).  A ``#`` starts a comment
   only as the first non-blank character of a line and only when it is not one of the C
   preprocessor directives below, so ``#imm`` operands are untouched.
2. C preprocessor.  ``#include "f"``/``<f>``, ``#define NAME value`` (object-like, whole-word
   substitution outside strings), ``#undef``, ``#if``/``#elif`` (C expressions with
   ``defined(X)``), ``#ifdef``, ``#ifndef``, ``#else``, ``#endif``, ``#error``; keystone has none
   of them.  The directive must follow ``#`` directly (``# if`` with a space is a comment).
   ``.include "f"`` is handled here too: keystone silently emits nothing for it.
   ``.ifdef NAME``/``.ifndef NAME`` on a ``#define``d NAME become ``.if 1``/``.if 0``.
3. Macros.  ``.macro``/``.endm`` (positional, keyword, default, ``:req``, ``:vararg`` parameters,
   ``\\@``, ``\\()``), ``.rept``, ``.irp``, ``.irpc``, ``.purgem`` are expanded here rather than by
   keystone: keystone silently drops statements that use ``\\@``, and numeric local labels inside
   a macro or a repeat block need per-expansion names, which only works after expansion.
4. Per statement:
   - numeric local labels ``N:`` with ``Nb``/``Nf`` references become unique symbols
     (keystone: KS_ERR_ASM_LABEL_INVALID);
   - ``.inst`` becomes ``.word`` (keystone silently emits nothing); ``.dword`` becomes ``.quad``;
   - Armv8.1 LSE atomics (``ldadd``/``ldclr``/``ldeor``/``ldset``/``ld[su]max``/``ld[su]min``
     with ``a``/``al``/``l`` and ``b``/``h`` variants, their ``st*`` aliases, ``swp*``, ``cas*``,
     ``casp*``) are encoded here into ``.word`` (keystone: invalid operand);
   - VHE ``*_EL12``/``*_EL02`` and other post-v8.0 system register names in ``mrs``/``msr``
     become ``S<op0>_<op1>_C<n>_C<m>_<op2>``, and ``msr pan|uao|dit|ssbs, #imm`` is encoded
     (keystone: "Unknown error");
   - ``mov Rd, #imm`` that no single MOVZ/MOVN/ORR encodes is expanded into MOVZ or MOVN plus
     MOVKs (keystone: "Unknown error"; GNU as rejects it too) when the immediate is a constant
     expression (literals, ``#define``s and ``.equ``/``.set`` constants defined earlier outside
     ``.if`` blocks);
   - pseudo-instruction ``movl Rd, expr``: loads any expression, including label addresses, as a
     fixed-length MOVZ+MOVK sequence (4 instructions for Xd, 2 for Wd) patched after layout
     (``ldr Xd, =expr`` with a literal pool is the other way; keystone handles it, but turns
     constants that fit one MOVZ/MOVN into that instruction where GNU as uses the pool);
   - ``adrp Xd, expr`` is emitted as a placeholder and patched after layout: keystone encodes
     the target's absolute page number instead of the PC-relative page delta when base != 0;
   - ``name .req reg``/``.unreq`` aliases (keystone silently emits nothing);
   - ``.error "msg"`` (keystone ignores it): an error at top level, otherwise it fails the build
     only if keystone actually assembles it (it is turned into a reference to an undefined
     symbol, so an ``.error`` in a false ``.if`` branch is harmless);
   - explicit fill values of ``.balign``/``.p2align``/``.align`` (keystone ignores them and pads
     with NOPs or zeros) are applied after layout;
   - ``.org expr[, fill]`` (keystone: KS_ERR_ASM_FRAGMENT_INVALID) becomes ``.space`` whose size
     is found by re-assembling until stable; a constant ``expr`` is an offset from ``base``, an
     expression involving symbols is an address;
   - ``.incbin "file"[, skip[, count]]`` becomes ``.space`` and is patched after layout;
   - section directives are dropped: the output is one flat section in source order
     (``.text`` and ``.section x, "ax"`` segfault keystone, ``.section x`` prints an error and
     silently returns no bytes);
   - ``.global``/``.globl``/``.weak``/``.local``/``.type``/``.size`` are recorded for the ELF
     symbol table and dropped (keystone rejects ``.weak``, ``.local``, ``.hidden`` and
     ``.size sym, .-sym``); ``.arch``/``.cpu``/``.cfi_*``/``.file``/... are dropped;
   - relocation operators (``:lo12:``, ``#:abs_g1:``, any ``:name:``) raise :class:`AsmError`:
     keystone hits an LLVM fatal error on them and aborts the whole process.

Layout, symbols and source lines
--------------------------------
``ks.asm`` returns bytes only.  Every source statement that may emit bytes gets an internal
label, and ``.quad 1, <symbol>`` probes for all labels (user labels, statement labels and the
expressions of ``movl``/``adrp``/``.org``/``.size``) are appended after an end marker; labels
inside ``.if`` blocks are probed through ``.ifdef`` so an unassembled branch yields ``0, 0``.
One keystone run thus gives the image, every label's address, and the address range of every
statement (``Program.source_lines``).  The end marker also detects keystone silently stopping
early.  Expressions follow keystone's (LLVM's) rules: C-like precedence except that ``| ^ &``
share one level and ``&& ||`` another, and comparisons yield 1 (GNU as differs on both).

Errors
------
keystone reports no line numbers.  On failure the statement list is bisected: prefixes are
re-assembled with open ``.if`` blocks closed and labels defined later stubbed, and the first
statement whose addition fails is reported as ``file:line: message [statement]``.

Process isolation (measured and decided)
----------------------------------------
Some aborts cannot be pre-checked, e.g. a branch to an out-of-range target ("LLVM ERROR: fixup
value out of range").  Measured: a child process per call would cost 30-100 ms (interpreter start
plus keystone import), but a persistent child costs that once and then about 50 us per request.
So keystone runs in one persistent worker subprocess (started lazily, restarted after a crash,
private to the process that started it; a fresh ``Ks`` per request).  A crash is reported as an
:class:`AsmError` naming the statement; for out-of-range fixups the offending forward reference
is found by a second bisection.  ``ARMVIRT_ASM_INPROCESS=1`` runs keystone in-process instead
(no crash protection).  ``Ks.sym_resolver`` is never used: once any resolver is installed,
shifted immediates (``movz x0, #1, lsl #16``) fail with "Unknown error" in every later ``Ks``
of the process.

Not supported
-------------
Multiple sections (everything is emitted in source order), function-like ``#define``, ``.exitm``,
recursive macros (expansion does not evaluate ``.if``), ``.rept`` with a count that is not a
constant expression, relocation operators, ``.altmacro``; numeric local labels defined in both
branches of an ``.if`` bind to the later definition.  Literal pools are padded with NOP (GNU as
uses zeros) and keep 4- and 8-byte entries in one pool in source order.
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import importlib.util
import json
import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, NoReturn, Sequence

from armvirt.elfwrite import (
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_NOTYPE,
    STT_OBJECT,
    ElfSection,
    ElfSymbol,
    build_executable,
)

__all__ = [
    "DEFAULT_BASE",
    "LINES_SECTION",
    "AsmError",
    "SymbolAttrs",
    "Program",
    "assemble",
    "assemble_file",
    "read_source_lines",
    "main",
]

DEFAULT_BASE = 0x40000000
LINES_SECTION = ".armvirt.lines"

_M64 = (1 << 64) - 1
_INTERNAL = "__armvirt_"          # prefix of every symbol the assembler invents
_END = _INTERNAL + "end"
_POOL = _INTERNAL + "pool"
_WORKER_TIMEOUT = 120.0           # seconds for one keystone run


# --------------------------------------------------------------------------------------------
# Public types

class AsmError(Exception):
    """An assembly error; ``str()`` is one line: ``file:line: message [statement]``."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None,
                 statement: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.statement = statement
        super().__init__(str(self))

    def __str__(self) -> str:
        loc = ""
        if self.file is not None:
            loc = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        stmt = f" [{' '.join(self.statement.split())}]" if self.statement else ""
        return f"{loc}{self.message}{stmt}"


@dataclass(frozen=True)
class SymbolAttrs:
    """ELF attributes of a label, from ``.type``/``.size``/``.global``/``.weak``."""

    kind: str = "notype"      # "function" | "object" | "notype"
    binding: str = "local"    # "local" | "global" | "weak"
    size: int = 0


@dataclass
class Program:
    """An assembled program: a flat image loaded at ``base``."""

    base: int
    code: bytes
    symbols: dict[str, int]
    entry: int
    source_lines: list[tuple[int, str, int]] = field(default_factory=list)
    symbol_attrs: dict[str, SymbolAttrs] = field(default_factory=dict)
    _line_index: tuple[int, list[int]] | None = field(default=None, init=False, repr=False,
                                                      compare=False)

    @property
    def end(self) -> int:
        return self.base + len(self.code)

    def line_for(self, address: int) -> tuple[str, int] | None:
        """The (file, line) of the statement whose bytes contain ``address``, if known."""
        if not self.base <= address < self.end or not self.source_lines:
            return None
        if self._line_index is None or self._line_index[0] != id(self.source_lines):
            self._line_index = (id(self.source_lines), [a for a, _, _ in self.source_lines])
        i = bisect.bisect_right(self._line_index[1], address) - 1
        if i < 0:
            return None
        _, file, line = self.source_lines[i]
        return file, line

    def lines_json(self) -> bytes:
        """``source_lines`` as stored in the ELF section ``.armvirt.lines``."""
        files: dict[str, int] = {}
        rows = [[addr, files.setdefault(f, len(files)), line]
                for addr, f, line in self.source_lines]
        return json.dumps({"version": 1, "files": list(files), "lines": rows},
                          separators=(",", ":")).encode()

    def elf_bytes(self) -> bytes:
        kinds = {"function": STT_FUNC, "object": STT_OBJECT}
        binds = {"global": STB_GLOBAL, "weak": STB_WEAK}
        syms = []
        for name, value in self.symbols.items():
            a = self.symbol_attrs.get(name, SymbolAttrs())
            syms.append(ElfSymbol(name, value, a.size, kinds.get(a.kind, STT_NOTYPE),
                                  binds.get(a.binding, STB_LOCAL)))
        return build_executable(base=self.base, image=self.code, entry=self.entry, symbols=syms,
                                extra_sections=[ElfSection(LINES_SECTION, self.lines_json())])

    def to_elf(self, path: str | os.PathLike[str]) -> None:
        """Write an AArch64 ELF64 executable: one RWX PT_LOAD at ``base``, ``.text``,
        ``.symtab`` with every label, and ``.armvirt.lines`` (JSON source lines)."""
        Path(path).write_bytes(self.elf_bytes())

    def to_bin(self, path: str | os.PathLike[str]) -> None:
        """Write the flat image."""
        Path(path).write_bytes(self.code)


def read_source_lines(elf_path: str | os.PathLike[str]) -> list[tuple[int, str, int]]:
    """Read ``source_lines`` back from an ELF written by :meth:`Program.to_elf`."""
    from elftools.elf.elffile import ELFFile

    with open(elf_path, "rb") as f:
        sec = ELFFile(f).get_section_by_name(LINES_SECTION)
        if sec is None:
            return []
        doc = json.loads(sec.data())
    files = doc["files"]
    return [(addr, files[fi], line) for addr, fi, line in doc["lines"]]


# --------------------------------------------------------------------------------------------
# Lexical helpers

@dataclass(frozen=True, slots=True)
class _Origin:
    file: str
    line: int
    macro: str | None = None      # innermost macro whose expansion produced the statement


@dataclass(frozen=True, slots=True)
class _Stmt:
    text: str
    origin: _Origin


def _err(message: str, st: _Stmt | None = None, origin: _Origin | None = None) -> AsmError:
    o = st.origin if st is not None else origin
    if o is None:
        return AsmError(message)
    if o.macro:
        message += f" (in expansion of macro '{o.macro}')"
    return AsmError(message, o.file, o.line, st.text if st is not None else None)


_STRING_RE = re.compile(r'"(?:\\.|[^"\\])*"?|\'(?:\\.|[^\\\n])\'?')


def _code_parts(text: str) -> list[tuple[bool, str]]:
    """Split ``text`` into (is_code, segment); string and character literals are not code."""
    if '"' not in text and "'" not in text:
        return [(True, text)]
    parts: list[tuple[bool, str]] = []
    pos = 0
    for m in _STRING_RE.finditer(text):
        if m.start() > pos:
            parts.append((True, text[pos:m.start()]))
        parts.append((False, m.group()))
        pos = m.end()
    if pos < len(text):
        parts.append((True, text[pos:]))
    return parts


def _map_code(text: str, fn: Callable[[str], str]) -> str:
    return "".join(fn(s) if code else s for code, s in _code_parts(text))


def _split_top(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside literals and brackets; pieces are stripped."""
    if sep not in text:
        return [text.strip()]
    out: list[str] = []
    cur: list[str] = []
    depth = 0
    for code, seg in _code_parts(text):
        if not code:
            cur.append(seg)
            continue
        start = 0
        for i, ch in enumerate(seg):
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth = max(depth - 1, 0)
            elif ch == sep and depth == 0:
                cur.append(seg[start:i])
                out.append("".join(cur).strip())
                cur, start = [], i + 1
        cur.append(seg[start:])
    out.append("".join(cur).strip())
    return out


def _split_words(text: str) -> list[str]:
    """Split on whitespace outside literals and brackets (GNU allows space-separated args)."""
    words: list[str] = []
    cur: list[str] = []
    depth = 0
    for code, seg in _code_parts(text):
        if not code:
            cur.append(seg)
            continue
        for ch in seg:
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth = max(depth - 1, 0)
            if ch.isspace() and depth == 0:
                if cur:
                    words.append("".join(cur))
                    cur = []
            else:
                cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


_LEX_RE = re.compile(r"""
    "(?:\\.|[^"\\\n])*"?        # string literal
  | '(?:\\.|[^\\\n])'?          # character literal: 'c' or GNU-style 'c
  | /\*.*?(?:\*/|\Z)            # block comment (may span lines)
  | //[^\n]*                    # line comment
""", re.S | re.X)


def _strip_comments(text: str, filename: str) -> str:
    """Remove ``//`` and ``/* */`` comments, keeping string literals and line numbers."""
    if "/" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        s = m.group()
        if s.startswith("/*"):
            if len(s) < 4 or not s.endswith("*/"):
                raise AsmError("unterminated /* comment", filename,
                               text.count("\n", 0, m.start()) + 1)
            return "\n" * s.count("\n") or " "
        return "" if s.startswith("//") else s

    return _LEX_RE.sub(repl, text)


def _parse_string(tok: str) -> str | None:
    """The value of a double-quoted string literal (simple escapes), else None."""
    tok = tok.strip()
    if len(tok) < 2 or tok[0] != '"' or tok[-1] != '"':
        return None
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "0": "\0"}.get(m.group(1), m.group(1)),
                  tok[1:-1])


_IDENT = r"[A-Za-z_.$][\w.$]*"
_LABEL_RE = re.compile(rf"\s*({_IDENT}|\d+)\s*:(?!:)")


def _split_labels(text: str) -> tuple[list[str], str]:
    """Leading ``name:`` label definitions and the remaining statement."""
    labels: list[str] = []
    pos = 0
    while (m := _LABEL_RE.match(text, pos)) is not None:
        labels.append(m.group(1))
        pos = m.end()
    return labels, text[pos:].strip()


def _first_word(text: str) -> str:
    return text.split(None, 1)[0].lower() if text else ""


# --------------------------------------------------------------------------------------------
# Constant expressions

class _Unevaluable(Exception):
    pass


_EXPR_TOKEN_RE = re.compile(r"""\s*(?:
    (?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+)
  | (?P<chr>'(?:\\.|[^\\])'?)
  | (?P<id>[A-Za-z_.$][\w.$]*)
  | (?P<op><<|>>|<=|>=|==|!=|<>|&&|\|\||[-+*/%&|^~!()<>])
)""", re.X)

# keystone (LLVM MC, non-GNU table): && || < | ^ & < comparisons < shifts < + - < * / %.
_KS_PREC = {"||": 1, "&&": 1, "|": 2, "^": 2, "&": 2,
            "==": 3, "!=": 3, "<>": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
            "<<": 4, ">>": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}
_C_PREC = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
           "<": 7, "<=": 7, ">": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9,
           "*": 10, "/": 10, "%": 10}
_CHAR_ESC = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34}


def _s64(v: int) -> int:
    v &= _M64
    return v - (1 << 64) if v >> 63 else v


class _ExprParser:
    def __init__(self, text: str, lookup: Callable[[str], int | None], c_mode: bool) -> None:
        if c_mode:
            text = re.sub(r"(?<=[0-9a-fA-F])[uUlL]+\b", "", text)
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _EXPR_TOKEN_RE.match(text, pos)
            if m is None or m.end() == pos:
                if text[pos:].strip():
                    raise _Unevaluable
                break
            kind = m.lastgroup
            assert kind is not None
            self.toks.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.lookup = lookup
        self.c_mode = c_mode
        self.prec = _C_PREC if c_mode else _KS_PREC

    def parse(self) -> int:
        v = self._binary(1)
        if self.i != len(self.toks):
            raise _Unevaluable
        return v

    def _next(self) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise _Unevaluable
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _binary(self, min_prec: int) -> int:
        lhs = self._unary()
        while self.i < len(self.toks):
            kind, op = self.toks[self.i]
            p = self.prec.get(op) if kind == "op" else None
            if p is None or p < min_prec:
                break
            self.i += 1
            lhs = self._apply(op, lhs, self._binary(p + 1))
        return lhs

    def _unary(self) -> int:
        kind, tok = self._next()
        if kind == "num":
            if len(tok) > 1 and tok[0] == "0" and tok[1].isdigit():
                try:
                    v = int(tok, 8)                   # GNU/LLVM: leading 0 means octal
                except ValueError:
                    raise _Unevaluable from None
            else:
                v = int(tok, 0)
            if v > _M64:
                raise _Unevaluable
            return _s64(v)
        if kind == "chr":
            body = tok[1:].rstrip("'") if len(tok) > 2 else tok[1:]
            if body.startswith("\\") and len(body) == 2 and body[1] in _CHAR_ESC:
                return _CHAR_ESC[body[1]]
            if len(body) != 1:
                raise _Unevaluable
            return ord(body)
        if kind == "id":
            v = self.lookup(tok)
            if v is None:
                raise _Unevaluable
            return _s64(v)
        if tok == "(":
            v = self._binary(1)
            if self._next() != ("op", ")"):
                raise _Unevaluable
            return v
        if tok in ("-", "+", "~", "!"):
            v = self._unary()
            return {"-": _s64(-v), "+": v, "~": _s64(~v), "!": int(v == 0)}[tok]
        raise _Unevaluable

    def _apply(self, op: str, a: int, b: int) -> int:
        if op in ("/", "%"):
            if b == 0:
                raise _Unevaluable
            q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)   # truncate toward 0
            return _s64(q if op == "/" else a - b * q)
        if op in ("<<", ">>"):
            if not 0 <= b < 64:
                raise _Unevaluable
            if op == "<<":
                return _s64(a << b)
            return a >> b if self.c_mode else _s64((a & _M64) >> b)   # keystone: logical
        return {
            "+": lambda: _s64(a + b), "-": lambda: _s64(a - b), "*": lambda: _s64(a * b),
            "&": lambda: a & b, "|": lambda: a | b, "^": lambda: a ^ b,
            "==": lambda: int(a == b), "!=": lambda: int(a != b), "<>": lambda: int(a != b),
            "<": lambda: int(a < b), "<=": lambda: int(a <= b),
            ">": lambda: int(a > b), ">=": lambda: int(a >= b),
            "&&": lambda: int(bool(a) and bool(b)), "||": lambda: int(bool(a) or bool(b)),
        }[op]()


def _eval_expr(text: str, lookup: Callable[[str], int | None], *,
               c_mode: bool = False) -> int | None:
    """Evaluate a constant expression (signed 64-bit), or None if it is not constant."""
    try:
        return _ExprParser(text, lookup, c_mode).parse()
    except (_Unevaluable, RecursionError):
        return None


# --------------------------------------------------------------------------------------------
# Encoders for what keystone cannot assemble

_GPR_RE = re.compile(r"^([wx])(?:([0-9]|[12][0-9]|30)|(zr))$", re.I)
_MEM_BASE_RE = re.compile(r"^\[\s*(?:x([0-9]|[12][0-9]|30)|(sp))\s*(?:,\s*#?\s*0+)?\s*\]$", re.I)


def _gpr(tok: str) -> tuple[int, int] | None:
    """(number, width) of a W/X register operand; the zero register is 31."""
    m = _GPR_RE.match(tok.strip())
    if m is None:
        return None
    return (31 if m.group(3) else int(m.group(2))), (64 if m.group(1).lower() == "x" else 32)


_LSE_OPS = {"add": 0, "clr": 1, "eor": 2, "set": 3, "smax": 4, "smin": 5, "umax": 6, "umin": 7}
_LSE_OP_RE = "(?P<op>add|clr|eor|set|smax|smin|umax|umin)"
_LSE_FORMS = [
    ("ld", re.compile(rf"^ld{_LSE_OP_RE}(?P<order>al|a|l)?(?P<size>b|h)?$")),
    ("st", re.compile(rf"^st{_LSE_OP_RE}(?P<order>l)?(?P<size>b|h)?$")),
    ("swp", re.compile(r"^swp(?P<order>al|a|l)?(?P<size>b|h)?$")),
    ("casp", re.compile(r"^casp(?P<order>al|a|l)?$")),
    ("cas", re.compile(r"^cas(?P<order>al|a|l)?(?P<size>b|h)?$")),
]
_LSE_NREGS = {"ld": 2, "st": 1, "swp": 2, "cas": 2, "casp": 4}


def _encode_lse(mnemonic: str, operands: str) -> int | None:
    """Encode an Armv8.1 LSE atomic; None if ``mnemonic`` is not one.  Raises ValueError."""
    m = mnemonic.lower()
    if m[:2] not in ("ld", "st", "sw", "ca"):
        return None
    for kind, rx in _LSE_FORMS:
        mt = rx.match(m)
        if mt is not None:
            break
    else:
        return None
    ops = _split_top(operands)
    nregs = _LSE_NREGS[kind]
    if len(ops) != nregs + 1:
        raise ValueError(f"'{m}' takes {nregs} register(s) and a [Xn|SP] operand")
    mb = _MEM_BASE_RE.match(ops[-1])
    if mb is None:
        raise ValueError(f"'{m}': expected [Xn|SP] as the address operand, got '{ops[-1]}'")
    rn = 31 if mb.group(2) else int(mb.group(1))
    regs = [_gpr(o) for o in ops[:-1]]
    if any(r is None for r in regs):
        raise ValueError(f"'{m}': expected W or X registers")
    nums = [r[0] for r in regs if r is not None]
    widths = {r[1] for r in regs if r is not None}
    if len(widths) != 1:
        raise ValueError(f"'{m}': registers must be all W or all X")
    width = widths.pop()
    groups = mt.groupdict()
    order = groups.get("order") or ""
    acq, rel = int("a" in order), int("l" in order)
    if groups.get("size"):
        if width != 32:
            raise ValueError(f"'{m}': byte/halfword forms take W registers")
        size = 0 if groups["size"] == "b" else 1
    else:
        size = 2 if width == 32 else 3
    if kind == "casp":
        for first, second in ((nums[0], nums[1]), (nums[2], nums[3])):
            if first % 2 or second != first + 1:
                raise ValueError(f"'{m}': register pairs must be consecutive, starting even")
        return (width == 64) << 30 | 0x08207C00 | acq << 22 | nums[0] << 16 | rel << 15 \
            | rn << 5 | nums[2]
    if kind == "cas":
        return size << 30 | 0x08A07C00 | acq << 22 | nums[0] << 16 | rel << 15 | rn << 5 | nums[1]
    rt = 31 if kind == "st" else nums[1]
    opc = 0 if kind == "swp" else _LSE_OPS[groups["op"]]
    o3 = 1 if kind == "swp" else 0
    return size << 30 | 0x38200000 | acq << 23 | rel << 22 | nums[0] << 16 | o3 << 15 \
        | opc << 12 | rn << 5 | rt


_MOVN, _MOVZ, _MOVK = 0, 2, 3


def _movw(opc: int, width: int, hw: int, imm16: int, rd: int) -> int:
    return (width == 64) << 31 | opc << 29 | 0x12800000 | hw << 21 | (imm16 & 0xFFFF) << 5 | rd


def _movl_words(rd: int, width: int, value: int) -> list[int]:
    """The fixed-length MOVZ+MOVK sequence of the ``movl`` pseudo-instruction."""
    return [_movw(_MOVZ if hw == 0 else _MOVK, width, hw, value >> (16 * hw), rd)
            for hw in range(width // 16)]


def _is_bitmask_imm(v: int, width: int) -> bool:
    """Whether ``v`` is an AArch64 logical immediate for a ``width``-bit register."""
    full = (1 << width) - 1
    v &= full
    if v in (0, full):
        return False
    size = 2
    while size <= width:
        mask = (1 << size) - 1
        elem = v & mask
        rep = 0
        for i in range(0, width, size):
            rep |= elem << i
        if rep == v:
            rot = ((elem >> 1) | ((elem & 1) << (size - 1))) & mask
            if bin(elem ^ rot).count("1") == 2:        # one contiguous run, possibly rotated
                return True
        size *= 2
    return False


def _mov_imm_words(rd: int, width: int, value: int) -> list[int] | None:
    """MOVZ/MOVN+MOVK words for ``mov Rd, #value``; None if one instruction does it (then
    keystone assembles it, identically to GNU as).  Raises ValueError if out of range."""
    if width == 32 and not -(1 << 31) <= value < 1 << 32:
        raise ValueError(f"immediate {value:#x} does not fit in a W register")
    full = (1 << width) - 1
    v = value & full
    chunks = [(v >> (16 * i)) & 0xFFFF for i in range(width // 16)]
    if sum(c != 0 for c in chunks) <= 1 or sum(c != 0xFFFF for c in chunks) <= 1 \
            or _is_bitmask_imm(v, width):
        return None
    if chunks.count(0xFFFF) > chunks.count(0):
        first = next(i for i, c in enumerate(chunks) if c != 0xFFFF)
        words = [_movw(_MOVN, width, first, ~chunks[first], rd)]
        words += [_movw(_MOVK, width, i, c, rd) for i, c in enumerate(chunks)
                  if i != first and c != 0xFFFF]
    else:
        first = next(i for i, c in enumerate(chunks) if c != 0)
        words = [_movw(_MOVZ, width, first, chunks[first], rd)]
        words += [_movw(_MOVK, width, i, c, rd) for i, c in enumerate(chunks)
                  if i != first and c != 0]
    return words


# System registers keystone 0.9.2 does not know: VHE (Armv8.1) *_EL12/*_EL02 and later
# additions.  name -> (op0, op1, CRn, CRm, op2)
_SYSREGS: dict[str, tuple[int, int, int, int, int]] = {
    "sctlr_el12": (3, 5, 1, 0, 0), "cpacr_el12": (3, 5, 1, 0, 2), "zcr_el12": (3, 5, 1, 2, 0),
    "ttbr0_el12": (3, 5, 2, 0, 0), "ttbr1_el12": (3, 5, 2, 0, 1), "tcr_el12": (3, 5, 2, 0, 2),
    "spsr_el12": (3, 5, 4, 0, 0), "elr_el12": (3, 5, 4, 0, 1),
    "afsr0_el12": (3, 5, 5, 1, 0), "afsr1_el12": (3, 5, 5, 1, 1), "esr_el12": (3, 5, 5, 2, 0),
    "far_el12": (3, 5, 6, 0, 0), "mair_el12": (3, 5, 10, 2, 0), "amair_el12": (3, 5, 10, 3, 0),
    "vbar_el12": (3, 5, 12, 0, 0), "contextidr_el12": (3, 5, 13, 0, 1),
    "cntkctl_el12": (3, 5, 14, 1, 0),
    "cntp_tval_el02": (3, 5, 14, 2, 0), "cntp_ctl_el02": (3, 5, 14, 2, 1),
    "cntp_cval_el02": (3, 5, 14, 2, 2), "cntv_tval_el02": (3, 5, 14, 3, 0),
    "cntv_ctl_el02": (3, 5, 14, 3, 1), "cntv_cval_el02": (3, 5, 14, 3, 2),
    "ttbr1_el2": (3, 4, 2, 0, 1), "contextidr_el2": (3, 4, 13, 0, 1),
    "cnthv_tval_el2": (3, 4, 14, 3, 0), "cnthv_ctl_el2": (3, 4, 14, 3, 1),
    "cnthv_cval_el2": (3, 4, 14, 3, 2),
    "id_aa64mmfr2_el1": (3, 0, 0, 7, 2),
    "pan": (3, 0, 4, 2, 3), "uao": (3, 0, 4, 2, 4), "dit": (3, 3, 4, 2, 5), "ssbs": (3, 3, 4, 2, 6),
}
# PSTATE fields for "msr <field>, #imm": name -> (op1, op2)
_PSTATE_FIELDS = {"pan": (0, 4), "uao": (0, 3), "dit": (3, 2), "ssbs": (3, 1)}


def _sysreg_generic(name: str) -> str | None:
    enc = _SYSREGS.get(name.strip().lower())
    return None if enc is None else "s{}_{}_c{}_c{}_{}".format(*enc)


# --------------------------------------------------------------------------------------------
# C preprocessor

_CPP_RE = re.compile(r"#([A-Za-z_]+)\b\s*(.*)$")
_DOT_INCLUDE_RE = re.compile(r'\.include\s+"([^"]+)"\s*$', re.I)
_DEFINE_RE = re.compile(r"([A-Za-z_]\w*)(\(?)\s*(.*)$")
_DEFINED_RE = re.compile(r"\bdefined\s*(?:\(\s*([A-Za-z_]\w*)\s*\)|([A-Za-z_]\w*))")
_DOT_IFDEF_RE = re.compile(r"(\.ifn?def)\s+([A-Za-z_]\w*)\s*$", re.I)


class _Preprocessor:
    MAX_INCLUDE_DEPTH = 64

    def __init__(self, defines: Mapping[str, int | str] | None,
                 include_dirs: Iterable[str | os.PathLike[str]]) -> None:
        self.macros: dict[str, str] = {}
        for name, value in (defines or {}).items():
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise AsmError(f"invalid define name {name!r}")
            self.macros[name] = hex(int(value)) if isinstance(value, int) else str(value)
        self.include_dirs = [Path(d) for d in include_dirs]
        self._regex: re.Pattern[str] | None = None

    def run(self, text: str, filename: str) -> list[_Stmt]:
        out: list[_Stmt] = []
        self._file(text, filename, out, 0)
        return out

    def resolve(self, name: str, origin: _Origin, angle: bool = False) -> Path:
        """Find an included file: the including file's directory, then include_dirs (then the
        working directory for sources that are not files)."""
        p = Path(name)
        if p.is_absolute():
            if p.is_file():
                return p
        else:
            here = None if origin.file.startswith("<") else Path(origin.file).parent
            dirs = ([here] if here is not None and not angle else []) + self.include_dirs
            if here is None:
                dirs.append(Path("."))
            for d in dirs:
                if (d / p).is_file():
                    return d / p
        raise _err(f"cannot find include file '{name}'", origin=origin)

    def _file(self, text: str, filename: str, out: list[_Stmt], depth: int) -> None:
        text = _strip_comments(text.replace("\r\n", "\n").replace("\r", "\n"), filename)
        stack: list[tuple[bool, bool, bool, _Origin]] = []   # parent, active, taken, origin
        active = True
        for lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.strip()
            if not line:
                continue
            origin = _Origin(filename, lineno)
            if line[0] == "#":
                m = _CPP_RE.match(line)
                word, arg = (m.group(1), m.group(2).strip()) if m else ("", "")
                if word in ("if", "ifdef", "ifndef"):
                    cond = False
                    if active:
                        if word == "if":
                            cond = self._eval_if(arg, origin)
                        else:
                            cond = (arg.split()[0] if arg else "") in self.macros
                            cond = cond if word == "ifdef" else not cond
                    stack.append((active, active and cond, cond, origin))
                    active = active and cond
                elif word in ("elif", "else"):
                    if not stack:
                        raise _err(f"#{word} without #if", origin=origin)
                    parent, _, taken, o = stack[-1]
                    cond = parent and not taken and (word == "else" or self._eval_if(arg, origin))
                    stack[-1] = (parent, cond, taken or cond, o)
                    active = cond
                elif word == "endif":
                    if not stack:
                        raise _err("#endif without #if", origin=origin)
                    active = stack.pop()[0]
                elif not active:
                    pass
                elif word == "include":
                    m2 = re.fullmatch(r'"([^"]+)"|<([^>]+)>', arg)
                    if m2 is None:
                        raise _err(f"#include expects \"file\" or <file>, got '{arg}'",
                                   origin=origin)
                    self._include(m2.group(1) or m2.group(2), origin, out, depth,
                                  angle=m2.group(2) is not None)
                elif word == "define":
                    m2 = _DEFINE_RE.match(arg)
                    if m2 is None:
                        raise _err("#define expects a name", origin=origin)
                    if m2.group(2):
                        raise _err("function-like #define is not supported", origin=origin)
                    self.macros[m2.group(1)] = m2.group(3).strip()
                    self._regex = None
                elif word == "undef":
                    self.macros.pop(arg.split()[0] if arg else "", None)
                    self._regex = None
                elif word == "error":
                    raise _err(f"#error {arg}".rstrip(), origin=origin)
                # Anything else (#warning, #pragma, #line, plain '#' text) is a comment.
                continue
            if not active:
                continue
            m = _DOT_INCLUDE_RE.match(line)
            if m is not None:
                self._include(m.group(1), origin, out, depth)
                continue
            m = _DOT_IFDEF_RE.match(line)
            if m is not None and m.group(2) in self.macros:
                line = ".if {}".format(int((m.group(1).lower() == ".ifdef")))
            line = self.expand(line)
            for piece in (_split_top(line, ";") if ";" in line else [line]):
                if piece:
                    out.append(_Stmt(piece, origin))
        if stack:
            raise _err("unterminated #if/#ifdef/#ifndef", origin=stack[-1][3])

    def _include(self, name: str, origin: _Origin, out: list[_Stmt], depth: int,
                 angle: bool = False) -> None:
        if depth >= self.MAX_INCLUDE_DEPTH:
            raise _err(f"includes nested too deeply (recursive include of '{name}'?)",
                       origin=origin)
        path = self.resolve(name, origin, angle)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise _err(f"cannot read '{path}': {e}", origin=origin) from None
        self._file(text, str(path), out, depth + 1)

    def expand(self, text: str) -> str:
        """Substitute #defines (whole words, outside literals, C-style rescanning)."""
        if not self.macros:
            return text
        if self._regex is None:
            names = sorted(self.macros, key=len, reverse=True)
            self._regex = re.compile(r"(?<![\w$.\\])(" + "|".join(map(re.escape, names))
                                     + r")(?![\w$])")
        regex = self._regex

        def expand_name(name: str, blocked: frozenset[str]) -> str:
            if name in blocked:
                return name
            inner = blocked | {name}
            return regex.sub(lambda m: expand_name(m.group(1), inner), self.macros[name])

        top = frozenset[str]()
        return _map_code(text, lambda s: regex.sub(lambda m: expand_name(m.group(1), top), s))

    def _eval_if(self, expr: str, origin: _Origin) -> bool:
        expr = _DEFINED_RE.sub(lambda m: "1" if (m.group(1) or m.group(2)) in self.macros else "0",
                               expr)
        v = _eval_expr(self.expand(expr), lambda _name: 0, c_mode=True)
        if v is None:
            raise _err(f"cannot evaluate #if expression '{expr}'", origin=origin)
        return v != 0


# --------------------------------------------------------------------------------------------
# Macro expansion

@dataclass
class _Macro:
    name: str
    params: list[tuple[str, str | None, bool, bool]]    # name, default, required, vararg
    body: list[_Stmt]


_REPEAT_OPEN = frozenset({".rept", ".irp", ".irpc"})
_MACRO_SUBST_RE = re.compile(r"\\(\(\)|@|[A-Za-z_][\w$]*)")
_PARAM_RE = re.compile(r"([A-Za-z_][\w$]*)\s*(?::\s*(req|vararg))?\s*(?:=\s*(.*))?", re.S)
_KEYWORD_ARG_RE = re.compile(r"([A-Za-z_][\w$]*)\s*=(?!=)\s*(.*)$", re.S)


class _Expander:
    MAX_DEPTH = 100

    def __init__(self, emitter: _Emitter) -> None:
        self.em = emitter
        self.macros: dict[str, _Macro] = {}
        self.counter = 0

    def run(self, stmts: list[_Stmt]) -> None:
        self._process(stmts, 0)

    def _process(self, stmts: list[_Stmt], depth: int) -> None:
        i, n = 0, len(stmts)
        while i < n and not self.em.ended:
            st = stmts[i]
            labels, rest = _split_labels(st.text)
            word = _first_word(rest)
            if word == ".macro" or word in _REPEAT_OPEN or word in self.macros:
                if labels:
                    self.em.emit(_Stmt("".join(f"{lab}:" for lab in labels), st.origin))
                st = _Stmt(rest, st.origin)
            if word == ".macro":
                end = self._find_end(stmts, i, {".macro"}, {".endm", ".endmacro"})
                self._define(rest[len(word):].strip(), stmts[i + 1:end], st)
                i = end + 1
            elif word in _REPEAT_OPEN:
                end = self._find_end(stmts, i, _REPEAT_OPEN, {".endr"})
                body = stmts[i + 1:end]
                for values in self._iterations(word, rest[len(word):].strip(), st):
                    if values is None:
                        self._process(body, depth)
                    else:
                        self._process(self._substitute(body, values, None, None), depth)
                i = end + 1
            elif word in (".endm", ".endmacro", ".endr"):
                raise _err(f"'{word}' without a matching block start", st)
            elif word == ".exitm":
                raise _err(".exitm is not supported", st)
            elif word == ".purgem":
                name = rest[len(word):].strip().lower()
                if self.macros.pop(name, None) is None:
                    raise _err(f".purgem: no macro named '{name}'", st)
                i += 1
            elif word in self.macros:
                if depth >= self.MAX_DEPTH:
                    raise _err("macros nested too deeply (recursive macro?)", st)
                macro = self.macros[word]
                values = self._bind(macro, rest[len(word):].strip(), st)
                self.counter += 1
                self._process(self._substitute(macro.body, values, str(self.counter - 1),
                                               (st.origin, macro.name)), depth + 1)
                i += 1
            else:
                self.em.emit(st)
                i += 1

    @staticmethod
    def _find_end(stmts: list[_Stmt], start: int, opens: set[str] | frozenset[str],
                  closes: set[str]) -> int:
        level = 0
        for j in range(start, len(stmts)):
            w = _first_word(_split_labels(stmts[j].text)[1])
            if w in opens:
                level += 1
            elif w in closes:
                level -= 1
                if level == 0:
                    return j
        raise _err(f"'{_first_word(stmts[start].text)}' without a matching "
                   f"'{sorted(closes)[0]}'", stmts[start])

    def _define(self, spec: str, body: list[_Stmt], st: _Stmt) -> None:
        m = re.match(r"([A-Za-z_.$][\w.$]*)\s*,?\s*(.*)$", spec, re.S)
        if m is None:
            raise _err(".macro expects a name", st)
        name, ptext = m.group(1).lower(), m.group(2).strip()
        pieces = _split_top(ptext) if ptext else []
        if len(pieces) == 1:
            words = _split_words(pieces[0])       # ".macro m a b=1" (space-separated)
            if all(_PARAM_RE.fullmatch(w) for w in words):
                pieces = words
        params: list[tuple[str, str | None, bool, bool]] = []
        for p in pieces:
            pm = _PARAM_RE.fullmatch(p)
            if pm is None:
                raise _err(f"bad macro parameter '{p}'", st)
            params.append((pm.group(1), pm.group(3), pm.group(2) == "req",
                           pm.group(2) == "vararg"))
        self.macros[name] = _Macro(name, params, body)

    def _bind(self, macro: _Macro, argtext: str, st: _Stmt) -> dict[str, str]:
        params = macro.params
        pieces = _split_top(argtext) if argtext else []
        if len(pieces) < len(params) and any(_split_words(p)[1:] for p in pieces):
            words = [w for p in pieces for w in _split_words(p)]     # "m x0 x1"
            if len(words) <= len(params) or any(p[3] for p in params):
                pieces = words
        names = {p[0] for p in params}
        values: dict[str, str] = {}
        positional: list[str] = []
        for p in pieces:
            km = _KEYWORD_ARG_RE.match(p)
            if km is not None and km.group(1) in names:
                values[km.group(1)] = km.group(2).strip()
            else:
                positional.append(p)
        for idx, (pname, default, required, vararg) in enumerate(params):
            if vararg:
                if idx < len(positional):
                    values[pname] = ", ".join(positional[idx:])
                positional = positional[:idx]
                break
            if idx < len(positional):
                values[pname] = positional[idx]
        if len(positional) > len(params):
            raise _err(f"too many arguments for macro '{macro.name}'", st)
        for pname, default, required, _ in params:
            if pname not in values or values[pname] == "":
                if required and pname not in values:
                    raise _err(f"missing required argument '{pname}' of macro '{macro.name}'", st)
                values[pname] = values.get(pname) or (default or "")
            v = values[pname]
            if len(v) >= 2 and v[0] == v[-1] == '"':
                values[pname] = v[1:-1]              # GNU as strips the quotes
        return values

    def _iterations(self, word: str, arg: str, st: _Stmt) -> list[dict[str, str] | None]:
        if word == ".rept":
            count = self.em.eval_const(arg)
            if count is None:
                raise _err(f".rept count '{arg}' is not a constant expression", st)
            if count < 0:
                raise _err(".rept count is negative", st)
            return [None] * count
        name, _, vals = arg.partition(",")
        name = name.strip()
        if not re.fullmatch(r"[A-Za-z_][\w$]*", name):
            raise _err(f"{word} expects a parameter name", st)
        vals = vals.strip()
        if word == ".irpc":
            return [{name: c} for c in vals] or [{name: ""}]
        items = _split_top(vals) if vals else [""]
        if len(items) == 1 and _split_words(items[0])[1:]:
            items = _split_words(items[0])
        return [{name: v} for v in items]

    @staticmethod
    def _substitute(body: list[_Stmt], values: dict[str, str], counter: str | None,
                    invocation: tuple[_Origin, str] | None) -> list[_Stmt]:
        def repl(m: re.Match[str]) -> str:
            tok = m.group(1)
            if tok == "()":
                return ""
            if tok == "@":
                return counter if counter is not None else m.group(0)
            return values.get(tok, m.group(0))

        out: list[_Stmt] = []
        for st in body:
            text = _MACRO_SUBST_RE.sub(repl, st.text) if "\\" in st.text else st.text
            origin = st.origin
            if invocation is not None:
                o, name = invocation
                origin = _Origin(o.file, o.line, name)
            out.extend(_Stmt(p, origin) for p in (_split_top(text, ";") if ";" in text else [text])
                       if p)
        return out


# --------------------------------------------------------------------------------------------
# Statement rewriting

@dataclass(slots=True)
class _Unit:
    """One source statement as given to keystone."""

    stmt: _Stmt
    labels: list[str]             # symbols defined here (user, numeric-local)
    body: str                     # keystone statement, "" if none
    stmt_label: str | None        # internal label marking the statement's address
    cond_depth: int               # keystone .if nesting around the statement
    depth_after: int              # .if nesting after it
    assigns: list[str] = field(default_factory=list)   # .equ/.set names defined here
    check: str = ""               # extra line assembled only while locating an error
    kind: str = ""                # "", "movl", "adrp", "org", "incbin", "fill", "error"
    expr: str = ""                # movl/adrp/org: expression evaluated by a probe
    rd: int = 0                   # movl/adrp: destination register
    width: int = 0                # movl: 64 or 32
    blob: bytes = b""             # incbin: the bytes; fill: the fill pattern
    message: str = ""             # error: the .error text
    org: _Org | None = None


@dataclass(slots=True)
class _Org:
    offset: bool                  # constant expression: an offset from base, else an address
    fill: str                     # ", <byte>" or ""
    size: int = 0                 # current size of the .space standing in for the .org


_COND_OPEN = frozenset({".if", ".ifdef", ".ifndef", ".ifnotdef", ".ifc", ".ifnc", ".ifeq",
                        ".ifeqs", ".ifne", ".ifnes", ".ifge", ".ifgt", ".ifle", ".iflt",
                        ".ifb", ".ifnb"})
_SECTION_DIRS = frozenset({".text", ".data", ".bss", ".rodata", ".section", ".pushsection",
                           ".popsection", ".previous", ".subsection"})
_IGNORED_DIRS = frozenset({".arch", ".arch_extension", ".cpu", ".fpu", ".file", ".ident",
                           ".loc", ".hidden", ".protected", ".internal", ".warning", ".print",
                           ".func", ".endfunc"})
_ALIGN_DIRS = frozenset({".align", ".p2align", ".balign", ".balignw", ".balignl",
                         ".p2alignw", ".p2alignl"})
_RENAMED_DIRS = {".inst": ".word", ".dword": ".quad", ".pool": ".ltorg", ".equiv": ".equ",
                 ".eqv": ".equ"}
_NUMREF_RE = re.compile(r"(?<![\w.$])(\d+)([bf])(?![\w.$])")
_RELOC_RE = re.compile(r":([A-Za-z_]\w*):")
_ASSIGN_RE = re.compile(rf"({_IDENT})\s*=(?!=)\s*(.*)$", re.S)
_REQ_RE = re.compile(r"([A-Za-z_][\w$]*)\s+\.req\s+([A-Za-z_][\w$]*)\s*$", re.I)
_DOT_RE = re.compile(r"(?<![\w.$])\.(?![\w.$])")
_SYMBOL_REF_RE = re.compile(rf"(?<![\w.$])({_IDENT})")
_DATA_DIRS = frozenset({".byte", ".hword", ".short", ".2byte", ".word", ".long", ".int",
                        ".4byte", ".quad", ".xword", ".8byte"})


class _Emitter:
    def __init__(self, pp: _Preprocessor) -> None:
        self.pp = pp
        self.units: list[_Unit] = []
        self.depth = 0
        self.depth_origins: list[_Stmt] = []
        self.ended = False
        self.consts: dict[str, int] = {}
        self.aliases: dict[str, str] = {}
        self._alias_re: re.Pattern[str] | None = None
        self.num_next: dict[str, int] = {}
        self.fwd_refs: list[tuple[str, int, _Stmt]] = []
        self.labels: dict[str, bool] = {}          # user label -> defined inside an .if block
        self.label_stmt: dict[str, _Stmt] = {}
        self.kinds: dict[str, str] = {}
        self.binds: dict[str, str] = {}
        self.sizes: list[tuple[str, int, str]] = []   # (symbol, unit index, expression)

    # -- helpers ------------------------------------------------------------------------------

    def eval_const(self, expr: str) -> int | None:
        return _eval_expr(expr, self.consts.get)

    def _add(self, st: _Stmt, labels: list[str], body: str, depth_before: int, *,
             stmt: bool = True, force_label: bool = False, assigns: Sequence[str] = (),
             kind: str = "") -> _Unit:
        label = f"{_INTERNAL}s{len(self.units)}" if (body and stmt) or force_label else None
        unit = _Unit(st, labels, body, label, depth_before, self.depth, list(assigns), kind=kind)
        self.units.append(unit)
        return unit

    def _add_patched(self, st: _Stmt, labels: list[str], body: str, depth_before: int,
                     kind: str, expr: str) -> _Unit:
        """A statement whose bytes depend on ``expr``, known only after layout; ``.`` in it
        means the statement's own address."""
        unit = self._add(st, labels, body, depth_before, kind=kind)
        unit.expr = _DOT_RE.sub(unit.stmt_label or ".", expr)
        unit.check = f".quad ({unit.expr})"
        return unit

    def _numeric_def(self, n: str) -> str:
        k = self.num_next.get(n, 0)
        self.num_next[n] = k + 1
        return f"{_INTERNAL}L{n}_{k}"

    def _numeric_refs(self, text: str, st: _Stmt) -> str:
        def repl(m: re.Match[str]) -> str:
            n, direction = str(int(m.group(1))), m.group(2)
            if direction == "b":
                k = self.num_next.get(n, 0) - 1
                if k < 0:
                    raise _err(f"local label '{n}b' has no preceding '{n}:'", st)
            else:
                k = self.num_next.get(n, 0)
                self.fwd_refs.append((n, k, st))
            return f"{_INTERNAL}L{n}_{k}"

        return _map_code(text, lambda s: _NUMREF_RE.sub(repl, s))

    def _apply_aliases(self, text: str) -> str:
        if self._alias_re is None:
            self._alias_re = re.compile(r"(?<![\w.$])(" + "|".join(map(re.escape, self.aliases))
                                        + r")(?![\w$])", re.I)
        rx = self._alias_re
        return _map_code(text, lambda s: rx.sub(lambda m: self.aliases[m.group(1).lower()], s))

    def _assign(self, name: str, expr: str) -> None:
        value = self.eval_const(expr) if self.depth == 0 else None
        if value is None:
            self.consts.pop(name, None)
        else:
            self.consts[name] = value

    # -- statements ----------------------------------------------------------------------------

    def emit(self, st: _Stmt) -> None:
        if self.ended:
            return
        depth_before = self.depth
        raw_labels, rest = _split_labels(st.text)
        labels: list[str] = []
        for lab in raw_labels:
            if lab.isdigit():
                labels.append(self._numeric_def(str(int(lab))))
                continue
            if lab.startswith(_INTERNAL):
                raise _err(f"symbol names starting with '{_INTERNAL}' are reserved", st)
            cond = depth_before > 0
            if lab in self.labels:
                if not cond and not self.labels[lab]:
                    prev = self.label_stmt[lab].origin
                    raise _err(f"symbol '{lab}' is already defined at {prev.file}:{prev.line}", st)
                self.labels[lab] = True
            else:
                self.labels[lab] = cond
                self.label_stmt[lab] = st
            labels.append(lab)
        if not rest:
            self._add(st, labels, "", depth_before)
            return
        if any(ch.isdigit() for ch in rest):
            rest = self._numeric_refs(rest, st)
        for code, seg in _code_parts(rest):
            m = _RELOC_RE.search(seg) if code else None
            if m is not None:
                raise _err(f"relocation operator ':{m.group(1)}:' is not supported (keystone "
                           "0.9.2 aborts on it); use adr, adrp, 'ldr Xd, =sym' or 'movl Xd, sym'",
                           st)
        if (m := _REQ_RE.match(rest)) is not None:
            target = m.group(2).lower()
            self.aliases[m.group(1).lower()] = self.aliases.get(target, target)
            self._alias_re = None
            self._add(st, labels, "", depth_before)
            return
        if (m := _ASSIGN_RE.match(rest)) is not None and not rest.startswith("."):
            self._assign(m.group(1), m.group(2))
            self._add(st, labels, rest, depth_before, stmt=False, assigns=[m.group(1)])
            return
        mnem, _, ops = rest.partition(" ")
        if "\t" in mnem:
            mnem, _, more = mnem.partition("\t")
            ops = f"{more} {ops}"
        ops = ops.strip()
        lm = mnem.lower()
        if lm.startswith("."):
            self._directive(st, labels, lm, ops, rest, depth_before)
        else:
            self._instruction(st, labels, mnem, lm, ops, depth_before)

    def _directive(self, st: _Stmt, labels: list[str], d: str, args: str, rest: str,
                   depth_before: int) -> None:
        if d in _COND_OPEN:
            self.depth += 1
            self.depth_origins.append(st)
            self._add(st, labels, rest, depth_before, stmt=False)
        elif d in (".else", ".elseif"):
            if self.depth == 0:
                raise _err(f"'{d}' without .if", st)
            self._add(st, labels, rest, depth_before, stmt=False)
        elif d == ".endif":
            if self.depth == 0:
                raise _err("'.endif' without .if", st)
            self.depth -= 1
            self.depth_origins.pop()
            self._add(st, labels, rest, depth_before, stmt=False)
        elif d in (".equ", ".set", ".equiv", ".eqv"):
            name, _, expr = args.partition(",")
            name = name.strip()
            self._assign(name, expr.strip())
            self._add(st, labels, f"{_RENAMED_DIRS.get(d, d)} {name}, {expr.strip()}",
                      depth_before, stmt=False, assigns=[name])
        elif d in _SECTION_DIRS or d in _IGNORED_DIRS or d.startswith(".cfi_"):
            self._add(st, labels, "", depth_before)
        elif d in (".global", ".globl", ".weak", ".local"):
            bind = {".weak": "weak", ".local": "local"}.get(d, "global")
            for name in _split_top(args):
                if name:
                    self.binds[name] = bind
            self._add(st, labels, "", depth_before)
        elif d == ".type":
            parts = _split_top(args)
            if len(parts) == 2:
                t = parts[1].lstrip("%@#").lower()
                self.kinds[parts[0]] = {"function": "function", "stt_func": "function",
                                        "object": "object", "stt_object": "object"}.get(t, "notype")
            self._add(st, labels, "", depth_before)
        elif d == ".size":
            parts = _split_top(args)
            unit = self._add(st, labels, "", depth_before, force_label=True)
            if len(parts) == 2:
                self.sizes.append((parts[0], len(self.units) - 1, parts[1]))
                unit.check = f".quad ({_DOT_RE.sub(unit.stmt_label or '.', parts[1])})"
        elif d == ".end":
            self.ended = True
            self._add(st, labels, "", depth_before)
        elif d in (".error", ".err"):
            msg = _parse_string(args) if args else None
            msg = f".error: {msg if msg is not None else (args or 'error directive')}"
            if self.depth == 0:
                raise _err(msg, st)
            # Only fails if keystone assembles it, i.e. if the enclosing .if is taken.
            unit = self._add(st, labels, f".quad {_INTERNAL}error_{len(self.units)}",
                             depth_before, kind="error")
            unit.message = msg
        elif d == ".include":
            raise _err(".include produced by macro expansion is not supported", st)
        elif d == ".unreq":
            self.aliases.pop(args.strip().lower(), None)
            self._alias_re = None
            self._add(st, labels, "", depth_before)
        elif d in _ALIGN_DIRS:
            parts = _split_top(args)
            if len(parts) >= 2 and parts[1]:
                fill = self.eval_const(parts[1])
                if fill is None:
                    raise _err(f"{d}: fill value must be a constant expression", st)
                width = 2 if d.endswith("w") else 4 if d.endswith("l") else 1
                unit = self._add(st, labels, rest, depth_before, kind="fill")
                unit.blob = (fill & ((1 << (8 * width)) - 1)).to_bytes(width, "little")
            else:
                self._add(st, labels, rest, depth_before)
        elif d == ".org":
            parts = _split_top(args)
            if not parts[0] or len(parts) > 2:
                raise _err(".org expects an expression and an optional fill byte", st)
            fill = ""
            if len(parts) == 2:
                fv = self.eval_const(parts[1])
                if fv is None:
                    raise _err(".org: fill value must be a constant expression", st)
                fill = f", {fv & 0xFF}"
            unit = self._add_patched(st, labels, f".space 0{fill}", depth_before, "org", parts[0])
            unit.org = _Org(offset=self.eval_const(parts[0]) is not None, fill=fill)
        elif d == ".incbin":
            parts = _split_top(args)
            name = _parse_string(parts[0])
            if name is None or len(parts) > 3:
                raise _err('.incbin expects "file"[, skip[, count]]', st)
            nums: list[int] = []
            for p in parts[1:]:
                v = self.eval_const(p)
                if v is None or v < 0:
                    raise _err(".incbin: skip and count must be non-negative constants", st)
                nums.append(v)
            path = self.pp.resolve(name, st.origin)
            try:
                data = path.read_bytes()
            except OSError as e:
                raise _err(f".incbin: cannot read '{path}': {e}", st) from None
            skip = nums[0] if nums else 0
            data = data[skip:skip + nums[1]] if len(nums) > 1 else data[skip:]
            unit = self._add(st, labels, f".space {len(data)}" if data else "", depth_before,
                             kind="incbin")
            unit.blob = data
        elif d in _RENAMED_DIRS:
            self._add(st, labels, f"{_RENAMED_DIRS[d]} {args}".strip(), depth_before)
        else:
            self._add(st, labels, rest, depth_before)

    def _instruction(self, st: _Stmt, labels: list[str], mnem: str, lm: str, ops: str,
                     depth_before: int) -> None:
        if self.aliases:
            ops = self._apply_aliases(ops)
        try:
            word = _encode_lse(lm, ops)
        except ValueError as e:
            raise _err(str(e), st) from None
        if word is not None:
            self._add(st, labels, f".word {word:#010x}", depth_before)
            return
        parts = _split_top(ops)
        if lm in ("msr", "mrs") and len(parts) == 2:
            reg_index = 0 if lm == "msr" else 1
            if lm == "msr" and parts[0].lower() in _PSTATE_FIELDS and parts[1].startswith("#"):
                imm = self.eval_const(parts[1][1:])
                if imm is None or not 0 <= imm <= 1:
                    raise _err(f"msr {parts[0]}: immediate must be 0 or 1", st)
                op1, op2 = _PSTATE_FIELDS[parts[0].lower()]
                word = 0xD500401F | op1 << 16 | imm << 8 | op2 << 5
                self._add(st, labels, f".word {word:#010x}", depth_before)
                return
            generic = _sysreg_generic(parts[reg_index])
            if generic is not None:
                parts[reg_index] = generic
                ops = ", ".join(parts)
        elif lm == "mov" and len(parts) == 2 and parts[1].startswith("#"):
            reg = _gpr(parts[0])
            value = self.eval_const(parts[1][1:]) if reg is not None else None
            if reg is not None and value is not None:
                try:
                    words = _mov_imm_words(reg[0], reg[1], value)
                except ValueError as e:
                    raise _err(str(e), st) from None
                if words is not None:
                    self._add(st, labels, ".word " + ", ".join(f"{w:#010x}" for w in words),
                              depth_before)
                    return
        elif lm == "adrp" and len(parts) == 2:
            # keystone encodes the target's absolute page number instead of the page delta
            # whenever base != 0, so ADRP is emitted as a placeholder and patched after layout.
            reg = _gpr(parts[0])
            if reg is None or reg[1] != 64 or reg[0] == 31:
                raise _err("adrp expects 'adrp Xd, expression'", st)
            unit = self._add_patched(st, labels, f".word {0x90000000 | reg[0]:#010x}",
                                     depth_before, "adrp", parts[1].removeprefix("#"))
            unit.rd = reg[0]
            return
        elif lm == "movl":
            reg = _gpr(parts[0]) if len(parts) == 2 else None
            if reg is None or reg[0] == 31:
                raise _err("movl expects 'movl Xd|Wd, expression'", st)
            words = _movl_words(reg[0], reg[1], 0)
            unit = self._add_patched(st, labels, ".word " + ", ".join(f"{w:#010x}" for w in words),
                                     depth_before, "movl", parts[1].removeprefix("#"))
            unit.rd, unit.width = reg
            return
        self._add(st, labels, f"{mnem} {ops}".rstrip(), depth_before)

    def finish(self) -> None:
        if self.depth:
            raise _err("unterminated .if block", self.depth_origins[-1])
        for n, k, st in self.fwd_refs:
            if self.num_next.get(n, 0) <= k:
                raise _err(f"local label '{n}f' has no following '{n}:'", st)
        self._check_data_symbols()

    def _check_data_symbols(self) -> None:
        """keystone evaluates ``a - undefined`` as ``a`` without complaint, so every identifier
        in a data directive or a patched expression must name a label or an assignment.
        Statements inside .if blocks are skipped: their branch may never be assembled."""
        known = {"."}
        for u in self.units:
            known.update(u.labels)
            known.update(u.assigns)
            if u.stmt_label:
                known.add(u.stmt_label)
        for u in self.units:
            if u.cond_depth or u.kind == "error":
                continue
            exprs = [u.check.partition(" ")[2]] if u.check else []
            d, _, ops = u.body.partition(" ")
            if d.lower() in _DATA_DIRS:
                exprs.append(ops)
            for expr in exprs:
                for code, seg in _code_parts(expr):
                    for m in _SYMBOL_REF_RE.finditer(seg) if code else ():
                        if m.group(1) not in known:
                            raise _err(f"undefined symbol '{m.group(1)}'", u.stmt)


# --------------------------------------------------------------------------------------------
# keystone backends

@dataclass(frozen=True)
class _KsResult:
    data: bytes | None            # None on failure
    error: str = ""               # keystone's error text
    stderr: str = ""              # diagnostics keystone printed
    crashed: bool = False         # the worker process died (LLVM fatal error, signal)


_WORKER_SRC = r"""
import os, struct, sys
sys.path.insert(0, sys.argv[1])
from keystone import Ks, KsError, KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN
inp, out = sys.stdin.buffer, sys.stdout.buffer

def drain():
    try:
        end = os.lseek(2, 0, os.SEEK_END)
        os.lseek(2, 0, os.SEEK_SET)
        data = os.read(2, min(end, 65536)) if end else b""
        os.ftruncate(2, 0)
        os.lseek(2, 0, os.SEEK_SET)
        return data
    except OSError:
        return b""

out.write(b"R"); out.flush()
while True:
    hdr = inp.read(12)
    if len(hdr) < 12:
        break
    n, base = struct.unpack("<IQ", hdr)
    src = inp.read(n)
    drain()
    try:
        enc, _ = Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN).asm(src, base, True)
        status, payload = 0, enc or b""
    except KsError as e:
        status, payload = 1, str(e).encode()
    err = drain()
    out.write(struct.pack("<BII", status, len(payload), len(err)) + payload + err)
    out.flush()
"""


class _InProcessBackend:
    def run(self, text: str, base: int) -> _KsResult:
        from keystone import KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN, Ks, KsError

        try:
            enc, _ = Ks(KS_ARCH_ARM64, KS_MODE_LITTLE_ENDIAN).asm(text.encode(), base, True)
        except KsError as e:
            return _KsResult(None, str(e))
        return _KsResult(enc or b"")

    def close(self) -> None:
        pass


class _WorkerBackend:
    """keystone in a persistent child interpreter, so that LLVM fatal errors cannot kill us."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("keystone")
        if spec is None or spec.origin is None:
            raise AsmError("keystone-engine is not installed")
        self.owner = os.getpid()
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _WORKER_SRC, str(Path(spec.origin).parent.parent)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, close_fds=True,
            bufsize=0)    # unbuffered: select() must see every byte not yet read
        if self._read(1) != b"R":
            msg = self._crash_text()
            self.close()
            raise AsmError(f"cannot start the keystone worker: {msg}")

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def _read(self, n: int) -> bytes:
        assert self._proc.stdout is not None
        buf = b""
        while len(buf) < n:
            ready, _, _ = select.select([self._proc.stdout], [], [], _WORKER_TIMEOUT)
            if not ready:
                self._proc.kill()
                raise TimeoutError
            chunk = os.read(self._proc.stdout.fileno(), n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _crash_text(self) -> str:
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip()
        lines = [ln for ln in text.splitlines() if ln.strip()]
        fatal = [ln for ln in lines if "LLVM ERROR" in ln or "rror" in ln]
        why = (fatal or lines or [f"exit status {self._proc.returncode}"])[-1].strip()
        return why

    def run(self, text: str, base: int) -> _KsResult:
        assert self._proc.stdin is not None
        payload = text.encode("utf-8", errors="replace")
        try:
            view = memoryview(struct.pack("<IQ", len(payload), base & _M64) + payload)
            while view:
                view = view[os.write(self._proc.stdin.fileno(), view):]
            status, n, m = struct.unpack("<BII", self._read(9))
            body = self._read(n) if n else b""
            err = self._read(m).decode(errors="replace").strip() if m else ""
        except TimeoutError:
            self.close()
            return _KsResult(None, f"keystone did not finish within {_WORKER_TIMEOUT:.0f} s",
                             crashed=True)
        except (OSError, EOFError, struct.error):
            why = self._crash_text()
            self.close()
            return _KsResult(None, f"keystone aborted: {why}", crashed=True)
        if status:
            return _KsResult(None, body.decode(errors="replace"), err)
        return _KsResult(body, "", err)

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for f in (self._proc.stdin, self._proc.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        self._stderr.close()


_backend_lock = threading.Lock()
_worker: _WorkerBackend | None = None
_worker_unavailable = False


def _run_keystone(text: str, base: int) -> _KsResult:
    global _worker, _worker_unavailable
    if os.environ.get("ARMVIRT_ASM_INPROCESS") == "1" or _worker_unavailable:
        return _InProcessBackend().run(text, base)
    with _backend_lock:
        if _worker is None or _worker.owner != os.getpid() or not _worker.alive:
            if _worker is not None and _worker.owner == os.getpid():
                _worker.close()
            try:
                _worker = _WorkerBackend()
            except OSError as e:          # cannot spawn (sandbox, no executable): degrade
                _worker, _worker_unavailable = None, True
                warnings.warn(f"armvirt.asm: keystone worker unavailable ({e}); assembling "
                              "in-process without crash protection", RuntimeWarning)
                return _InProcessBackend().run(text, base)
        result = _worker.run(text, base)
        if result.crashed:
            _worker = None
        return result


@atexit.register
def _close_worker() -> None:
    global _worker
    if _worker is not None and _worker.owner == os.getpid():
        _worker.close()
    _worker = None


# --------------------------------------------------------------------------------------------
# Layout: assemble with probes, patch, locate errors

def _render(units: Sequence[_Unit], out: list[str], check: bool = False) -> None:
    for u in units:
        for lab in u.labels:
            out.append(f"{lab}:")
        if u.body:
            out.append(f"{u.stmt_label}: {u.body}" if u.stmt_label else u.body)
        elif u.stmt_label:
            out.append(f"{u.stmt_label}:")
        if check and u.check:
            out.append(u.check)


_NOT_SYMBOL_RE = re.compile(r"""(?ix)^(?:
    [xwbhsdqvz]\d+(?:\.\w+)? | [xw]zr | w?sp | lr | fp | ip[01]
  | eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al|nv
  | lsl|lsr|asr|ror|msl|[su]xt[bhwx]
)$""")
_NO_SYMBOL_MNEMONICS = frozenset({"msr", "mrs", "sys", "sysl", "dc", "ic", "tlbi", "at", "dmb",
                                  "dsb", "isb", "hint", "clrex", "prfm"})


class _Linker:
    def __init__(self, em: _Emitter, base: int) -> None:
        self.em = em
        self.units = em.units
        self.base = base & _M64

    def _probes(self) -> tuple[list[tuple[str, str | None]], dict[str, int], dict[int, int],
                               dict[int, int], list[int]]:
        probes: list[tuple[str, str | None]] = []
        label_at: dict[str, int] = {}
        for name, cond in self.em.labels.items():
            label_at[name] = len(probes)
            probes.append((name, name if cond else None))
        stmt_at: dict[int, int] = {}
        expr_at: dict[int, int] = {}
        for i, u in enumerate(self.units):
            if u.stmt_label:
                guard = u.stmt_label if u.cond_depth else None
                stmt_at[i] = len(probes)
                probes.append((u.stmt_label, guard))
                if u.expr:
                    expr_at[i] = len(probes)
                    probes.append((f"({u.expr})", guard))
        size_at: list[int] = []
        for _, i, expr in self.em.sizes:
            u = self.units[i]
            size_at.append(len(probes))
            probes.append((f"({_DOT_RE.sub(u.stmt_label or '.', expr)})",
                           u.stmt_label if u.cond_depth else None))
        return probes, label_at, stmt_at, expr_at, size_at

    def _text(self, probes: list[tuple[str, str | None]]) -> str:
        out: list[str] = []
        _render(self.units, out)
        out += [f"{_POOL}:", ".ltorg", f"{_END}:", f".quad 1, {_END}", f".quad 1, {_POOL}"]
        for expr, guard in probes:
            if guard is None:
                out.append(f".quad 1, {expr}")
            else:
                out += [f".ifdef {guard}", f".quad 1, {expr}", ".else", ".quad 0, 0", ".endif"]
        out.append("")
        return "\n".join(out)

    def _split(self, data: bytes, nprobes: int) -> tuple[bytes, int, list[tuple[int, int]]] | None:
        """(image, pool address, probe values) or None if keystone stopped early."""
        n = 2 + nprobes
        if len(data) < 16 * n:
            return None
        vals = struct.unpack_from(f"<{2 * n}Q", data, len(data) - 16 * n)
        if vals[0] != 1 or (vals[1] - self.base) & _M64 != len(data) - 16 * n:
            return None
        pairs = [(vals[2 * k], vals[2 * k + 1]) for k in range(2, n)]
        return data[:len(data) - 16 * n], vals[3], pairs

    def link(self) -> Program:
        probes, label_at, stmt_at, expr_at, size_at = self._probes()
        orgs = [i for i, u in enumerate(self.units) if u.kind == "org"]
        for _ in range(len(orgs) + 3):
            res = _run_keystone(self._text(probes), self.base)
            split = self._split(res.data, len(probes)) if res.data is not None else None
            if split is None:
                self._locate_error(res)
            image, pool, values = split
            if not self._fix_orgs(orgs, values, stmt_at, expr_at):
                break
        else:
            raise AsmError(".org sizes did not converge")

        addr: dict[int, int] = {i: values[k][1] for i, k in stmt_at.items() if values[k][0]}
        code = bytearray(image)
        ordered = sorted(addr)
        ends = {i: (addr[ordered[j + 1]] if j + 1 < len(ordered) else pool)
                for j, i in enumerate(ordered)}
        for i in ordered:
            u = self.units[i]
            off = addr[i] - self.base
            if u.kind == "movl":
                value = values[expr_at[i]][1]
                if u.width == 32 and value > 0xFFFFFFFF:
                    raise _err(f"movl: value {value:#x} does not fit in a W register", u.stmt)
                n = u.width // 16
                if list(struct.unpack_from(f"<{n}I", code, off)) != _movl_words(u.rd, u.width, 0):
                    raise _err("internal error: movl placeholder not found", u.stmt)
                struct.pack_into(f"<{n}I", code, off, *_movl_words(u.rd, u.width, value))
            elif u.kind == "adrp":
                delta = (values[expr_at[i]][1] >> 12) - (addr[i] >> 12)
                if not -(1 << 20) <= delta < 1 << 20:
                    raise _err("adrp: target is out of range (more than 4 GiB away)", u.stmt)
                struct.pack_into("<I", code, off, 0x90000000 | (delta & 3) << 29
                                 | ((delta >> 2) & 0x7FFFF) << 5 | u.rd)
            elif u.kind == "incbin":
                code[off:off + len(u.blob)] = u.blob
            elif u.kind == "fill":
                span = ends[i] - addr[i]
                code[off:off + span] = (u.blob * (span // len(u.blob) + 1))[:span]

        symbols = {name: values[k][1] for name, k in label_at.items() if values[k][0]}
        attrs: dict[str, SymbolAttrs] = {}
        sizes = {sym: values[k][1] for (sym, _, _), k in zip(self.em.sizes, size_at)
                 if values[k][0]}
        for name in symbols:
            kind = self.em.kinds.get(name, "notype")
            bind = self.em.binds.get(name, "local")
            size = sizes.get(name, 0)
            if (kind, bind, size) != ("notype", "local", 0):
                attrs[name] = SymbolAttrs(kind, bind, size & _M64)

        lines: list[tuple[int, str, int]] = []
        for i in ordered:
            if ends[i] > addr[i]:
                o = self.units[i].stmt.origin
                if not lines or lines[-1][1:] != (o.file, o.line):
                    lines.append((addr[i], o.file, o.line))
        return Program(self.base, bytes(code), symbols, symbols.get("_start", self.base), lines,
                       attrs)

    def _fix_orgs(self, orgs: list[int], values: list[tuple[int, int]], stmt_at: dict[int, int],
                  expr_at: dict[int, int]) -> bool:
        """Resize the .space behind each .org; True if anything changed."""
        changed = False
        for i in orgs:
            u = self.units[i]
            here_flag, here = values[stmt_at[i]]
            flag, value = values[expr_at[i]]
            if not (here_flag and flag):
                continue
            org = u.org
            assert org is not None
            target = _s64(value) if org.offset else _s64(value - self.base)
            size = target - _s64(here - self.base)    # ``here`` is where the .space starts
            if size < 0:
                raise _err(f".org: location counter would move backwards (to offset {target:#x} "
                           f"from {here - self.base:#x})", u.stmt)
            if size != org.size:
                org.size = size
                u.body = f".space {size}{org.fill}"
                changed = True
        return changed

    # -- error location --------------------------------------------------------------------------

    def _attempt(self, k: int, neutral: frozenset[int] = frozenset()) -> _KsResult | None:
        """Assemble the first k units (open .if blocks closed, later labels stubbed, units in
        ``neutral`` replaced by a same-size placeholder); the failure, or None if it works."""
        units = self.units
        out: list[str] = []
        if neutral:
            for i, u in enumerate(units[:k]):
                _render([_Unit(u.stmt, u.labels, ".word 0", u.stmt_label, u.cond_depth,
                               u.depth_after) if i in neutral else u], out, check=True)
        else:
            _render(units[:k], out, check=True)
        if k:
            out += [".endif"] * units[k - 1].depth_after
        defined: set[str] = set()
        for u in units[:k]:
            defined.update(u.labels)
            defined.update(u.assigns)
            if u.stmt_label:
                defined.add(u.stmt_label)
        for u in units[k:]:
            for name in u.labels + ([u.stmt_label] if u.stmt_label else []):
                if name not in defined:
                    out.append(f"{name}:")
                    defined.add(name)
            for name in u.assigns:
                if name not in defined:
                    out.append(f"{name} = 0")
                    defined.add(name)
        # Flush the literal pool of the prefix before the end marker: keystone puts pending
        # `ldr Xn, =value` literals after the last statement, which would hide the marker and
        # make every prefix with such a load look like the failure.
        out += [".ltorg", f"{_END}:", f".quad 1, {_END}", ""]
        res = _run_keystone("\n".join(out), self.base)
        data = res.data
        if data is not None and len(data) >= 16 and struct.unpack_from(
                "<2Q", data, len(data) - 16) == (1, (self.base + len(data) - 16) & _M64):
            return None
        return res

    def _locate_error(self, full: _KsResult) -> NoReturn:
        n = len(self.units)
        res = self._attempt(n)
        if res is None:
            raise AsmError(self._describe(full, None))
        lo, hi = 0, n
        while hi - lo > 1:
            mid = (lo + hi) // 2
            r = self._attempt(mid)
            if r is None:
                lo = mid
            else:
                hi, res = mid, r
        unit = self.units[hi - 1]
        if unit.kind == "error":
            raise _err(unit.message, unit.stmt)
        if res.crashed and "out of range" in res.error:
            unit = self._range_culprit(hi) or unit
        raise _err(self._describe(res, unit), unit.stmt)

    def _range_culprit(self, hi: int) -> _Unit | None:
        """Adding units[hi-1] pushed some forward reference out of range (its label was stubbed
        after the prefix).  Find that reference: bisect over which forward-referencing
        instructions are replaced by a placeholder."""
        later: set[str] = set()
        for u in self.units[hi - 1:]:
            later.update(u.labels)
        cands = [i for i, u in enumerate(self.units[:hi - 1])
                 if u.body and not u.body.startswith(".") and u.kind == ""
                 and later.intersection(re.findall(_IDENT, u.body))]
        if not cands or self._attempt(hi, frozenset(cands)) is not None:
            return None
        lo, up = 0, len(cands)        # neutralising cands[up:] fails, cands[lo:] passes
        while up - lo > 1:
            mid = (lo + up) // 2
            if self._attempt(hi, frozenset(cands[mid:])) is None:
                lo = mid
            else:
                up = mid
        return self.units[cands[lo]]

    def _describe(self, res: _KsResult, unit: _Unit | None) -> str:
        if res.crashed:
            return res.error
        if res.data is not None:
            why = res.stderr.splitlines()[0].strip() if res.stderr else "no diagnostic"
            return f"keystone silently stopped assembling here ({why})"
        msg = f"keystone: {res.error}"
        if unit is None:
            return msg
        lm = _first_word(unit.body)
        if "SYMBOL_MISSING" in res.error:
            names = self._undefined_names(unit)
            if names:
                return "undefined symbol " + ", ".join(f"'{s}'" for s in names)
            return "undefined symbol"
        if res.error.startswith("Unknown error"):
            src_mnem = _first_word(_split_labels(unit.stmt.text)[1])
            if src_mnem in ("mov", "movz", "movn", "movk"):
                names = self._undefined_names(unit)
                if names:
                    return "undefined symbol " + ", ".join(f"'{s}'" for s in names)
                return (f"{msg} (immediate not encodable; use 'movl Rd, expr' or "
                        "'ldr Rd, =expr' for arbitrary values)")
            if lm in ("msr", "mrs"):
                return f"{msg} (unknown system register? use the S<op0>_<op1>_C<n>_C<m>_<op2> form)"
        if res.stderr:
            msg += f" ({res.stderr.splitlines()[0].strip()})"
        return msg

    def _undefined_names(self, unit: _Unit) -> list[str]:
        """Identifiers in the unit's statements that no label or assignment defines."""
        known: set[str] = set(self.em.labels) | set(self.em.consts)
        for u in self.units:
            known.update(u.labels)
            known.update(u.assigns)
        names: list[str] = []
        for stmt in (unit.body, unit.check):
            mnem, _, ops = stmt.strip().partition(" ")
            mnem = mnem.lower()
            if not stmt or mnem in _NO_SYMBOL_MNEMONICS:
                continue
            for code, seg in _code_parts(ops):
                if not code:
                    continue
                for m in re.finditer(rf"(?<![\w.$\\#])#?({_IDENT})", seg):
                    tok = m.group(1)
                    if tok == "." or tok in known or tok in names or tok.startswith(_INTERNAL):
                        continue
                    if not mnem.startswith(".") and _NOT_SYMBOL_RE.match(tok):
                        continue
                    names.append(tok)
        return names


# --------------------------------------------------------------------------------------------
# Entry points

def assemble(source: str, base: int = DEFAULT_BASE, *,
             defines: Mapping[str, int | str] | None = None,
             include_dirs: Iterable[str | os.PathLike[str]] = (),
             filename: str = "<string>") -> Program:
    """Assemble GNU-syntax AArch64 ``source`` into a flat image at ``base``.

    ``defines`` are object-like ``#define``s; ``include_dirs`` are searched by ``#include`` and
    ``.include`` after the including file's directory; ``filename`` names the source in
    messages and source lines.  Raises :class:`AsmError`.
    """
    if not 0 <= base <= _M64:
        raise AsmError(f"base {base:#x} is not a 64-bit address")
    pp = _Preprocessor(defines, include_dirs)
    stmts = pp.run(source, filename)
    em = _Emitter(pp)
    _Expander(em).run(stmts)
    em.finish()
    return _Linker(em, base).link()


def assemble_file(path: str | os.PathLike[str], base: int = DEFAULT_BASE, *,
                  defines: Mapping[str, int | str] | None = None,
                  include_dirs: Iterable[str | os.PathLike[str]] = ()) -> Program:
    """:func:`assemble` the file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AsmError(f"cannot read '{path}': {e}") from None
    return assemble(text, base, defines=defines, include_dirs=include_dirs, filename=str(path))


def _parse_define(text: str) -> tuple[str, int | str]:
    name, eq, value = text.partition("=")
    if not eq:
        return name, 1
    try:
        return name, int(value, 0)
    except ValueError:
        return name, value


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m armvirt.asm",
                                 description="Assemble AArch64 source into an ELF and/or a flat "
                                             "binary.")
    ap.add_argument("input", help="assembly source (.S)")
    ap.add_argument("-o", "--output", help="ELF executable to write")
    ap.add_argument("--bin", help="flat binary image to write")
    ap.add_argument("--base", type=lambda s: int(s, 0), default=DEFAULT_BASE,
                    help=f"load address (default {DEFAULT_BASE:#x})")
    ap.add_argument("-D", dest="defines", action="append", default=[], metavar="NAME[=VAL]",
                    help="define a preprocessor macro")
    ap.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR",
                    help="add an include directory")
    args = ap.parse_args(argv)
    if not args.output and not args.bin:
        ap.error("nothing to write: give -o OUT.elf and/or --bin OUT.bin")
    try:
        prog = assemble_file(args.input, args.base,
                             defines=dict(_parse_define(d) for d in args.defines),
                             include_dirs=args.include_dirs)
        if args.output:
            prog.to_elf(args.output)
        if args.bin:
            prog.to_bin(args.bin)
    except AsmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as e:
        print(f"error: {e}".replace("\n", " "), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
