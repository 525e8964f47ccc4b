"""The debugger's expression language: a small, C-like subset of what gdb accepts.

    42  0x40001000  0b101  0o17  'A'            literals
    $x0 $w3 $sp $pc $lr $fp $cpsr $SCTLR_EL1    registers (any Arm name, any case)
    $1  $  $$  $$2                              value history ($ = last, $$ = the one before)
    _start  message+8                           symbols (their address)
    + - * / % << >> & | ^ ~ ! && || == != < > <= >=  ( )
    *ADDR                                       the 64-bit word at ADDR
    *(u32*)ADDR  {u32}ADDR  (u8)EXPR            typed memory and casts: u8..u64, s8..s64,
                                                char, short, int, long, uintN_t, intN_t, ...
    LVALUE = EXPR                               assignment to a register or memory

Values are Python integers; results are reduced to the width of their type (64 bits unless a
cast or a typed access says otherwise). Errors raise :class:`ExprError` with a one-line,
gdb-like message.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Protocol

M64 = (1 << 64) - 1


class ExprError(Exception):
    """A user error in an expression; ``str()`` is one line."""


# name -> (size in bytes, signed)
TYPES: dict[str, tuple[int, bool]] = {}
for _bits in (8, 16, 32, 64):
    _n = _bits // 8
    TYPES.update({f"u{_bits}": (_n, False), f"s{_bits}": (_n, True), f"i{_bits}": (_n, True),
                  f"uint{_bits}_t": (_n, False), f"int{_bits}_t": (_n, True)})
TYPES.update({"char": (1, True), "signed char": (1, True), "unsigned char": (1, False),
              "short": (2, True), "unsigned short": (2, False), "int": (4, True),
              "unsigned": (4, False), "unsigned int": (4, False), "long": (8, True),
              "unsigned long": (8, False), "long long": (8, True),
              "unsigned long long": (8, False), "void": (1, False), "size_t": (8, False),
              "uintptr_t": (8, False)})


@dataclass(frozen=True)
class Val:
    value: int                       # the value as its type reads it (negative if signed)
    size: int = 8
    signed: bool = False
    pointee: tuple[int, bool] | None = None   # set by a pointer cast: what *val reads
    lval: tuple | None = None        # ("reg", name) or ("mem", addr, size)
    is_addr: bool = False            # a code/data address: print it with <sym+off>
    prefer_hex: bool = False         # a bit pattern (system register): print it in hex

    @property
    def u(self) -> int:
        """The value as an unsigned 64-bit pattern."""
        return self.value & M64


def wrap(v: int, size: int = 8, signed: bool = False) -> int:
    bits = 8 * size
    v &= (1 << bits) - 1
    if signed and v >> (bits - 1):
        v -= 1 << bits
    return v


class Env(Protocol):
    def read_register(self, name: str) -> Val: ...

    def write_register(self, name: str, value: int) -> None: ...

    def lookup_symbol(self, name: str) -> int | None: ...

    def read_memory(self, addr: int, size: int) -> bytes: ...

    def write_memory(self, addr: int, data: bytes) -> None: ...

    def history_value(self, index: int | None, back: int) -> Val: ...


_TOKEN = re.compile(r"""\s*(?:
    (?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|\d+)
  | (?P<chr>'(?:\\.|[^\\'])')
  | (?P<reg>\$\$\d*|\$\d+|\$[A-Za-z_][\w]*|\$)
  | (?P<id>[A-Za-z_.][\w.]*)
  | (?P<op><<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^~!<>(){}=,])
)""", re.X)

_BINARY = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, ">": 7,
           "<=": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10}
_ESC = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8,
        "e": 27, "f": 12, "v": 11}


def tokenize(text: str) -> list[tuple[str, str]]:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"Invalid character '{text[pos:].lstrip()[:1]}' in expression.")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, env: Env, allow_assign: bool = False):
        self.toks = tokenize(text)
        self.i = 0
        self.env = env
        self.allow_assign = allow_assign
        if not self.toks:
            raise ExprError("Argument required (expression to compute).")

    # ---------------------------------------------------------------- token helpers
    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        t = self.peek()
        if t is None:
            raise ExprError("A syntax error in expression, near `'.")
        self.i += 1
        return t

    def expect(self, op: str) -> None:
        t = self.peek()
        if t is None or t[1] != op:
            raise ExprError(f"A syntax error in expression, near `{self.rest()}'.")
        self.i += 1

    def rest(self) -> str:
        return " ".join(v for _, v in self.toks[self.i:])

    # ---------------------------------------------------------------- grammar
    def parse(self) -> Val:
        v = self.assignment()
        if self.peek() is not None:
            raise ExprError(f"A syntax error in expression, near `{self.rest()}'.")
        return v

    def assignment(self) -> Val:
        lhs = self.binary(1)
        t = self.peek()
        if t is not None and t == ("op", "="):
            self.i += 1
            if not self.allow_assign:
                raise ExprError("Assignment is not allowed here.")
            rhs = self.assignment()
            return self.assign(lhs, rhs)
        return lhs

    def binary(self, min_prec: int) -> Val:
        lhs = self.unary()
        while True:
            t = self.peek()
            if t is None or t[0] != "op" or t[1] not in _BINARY or _BINARY[t[1]] < min_prec:
                return lhs
            op = t[1]
            self.i += 1
            rhs = self.binary(_BINARY[op] + 1)
            lhs = self.apply(op, lhs, rhs)

    def unary(self) -> Val:
        t = self.peek()
        if t is None:
            raise ExprError("A syntax error in expression, near `'.")
        kind, v = t
        if kind == "op" and v in ("-", "~", "!", "+"):
            self.i += 1
            x = self.unary()
            if v == "-":
                return _arith(-x.value, x)
            if v == "~":
                return _arith(~x.value, x)
            if v == "!":
                return Val(int(x.value == 0), 4, True)
            return x
        if kind == "op" and v == "*":
            self.i += 1
            x = self.unary()
            size, signed = x.pointee or (8, False)
            return self.deref(x.u, size, signed)
        if kind == "op" and v == "&":
            self.i += 1
            x = self.unary()
            if x.lval is None or x.lval[0] != "mem":
                if x.is_addr:  # &symbol: a symbol already stands for its address
                    return x
                raise ExprError("Attempt to take address of value not located in memory.")
            return Val(x.lval[1], 8, False, is_addr=True)
        if kind == "op" and v == "{":
            self.i += 1
            size, signed, ptr = self.type_name("}")
            x = self.unary()
            if ptr:
                size, signed = 8, False
            return self.deref(x.u, size, signed)
        if kind == "op" and v == "(" and self.is_type_ahead():
            self.i += 1
            size, signed, ptr = self.type_name(")")
            x = self.unary()
            if ptr:
                return Val(x.u, 8, False, pointee=(size, signed), is_addr=True)
            return Val(wrap(x.value, size, signed), size, signed)
        return self.primary()

    def is_type_ahead(self) -> bool:
        words = []
        k = 1
        while True:
            t = self.peek(k)
            if t is None:
                return False
            if t[0] == "id":
                words.append(t[1])
            elif t == ("op", "*") or t == ("op", ")"):
                break
            else:
                return False
            k += 1
        return bool(words) and " ".join(words) in TYPES

    def type_name(self, close: str) -> tuple[int, bool, bool]:
        words = []
        while self.peek() is not None and self.peek()[0] == "id":
            words.append(self.take()[1])
        name = " ".join(words)
        if name not in TYPES:
            raise ExprError(f"No type named {name or '?'}.")
        ptr = False
        while self.peek() == ("op", "*"):
            self.i += 1
            ptr = True
        self.expect(close)
        size, signed = TYPES[name]
        return size, signed, ptr

    def primary(self) -> Val:
        kind, v = self.take()
        if kind == "num":
            base = {"x": 16, "b": 2, "o": 8}.get(v[1:2].lower(), 10) if len(v) > 1 else 10
            n = int(v[2:] if base != 10 else v, base)
            return Val(n, 8 if n > 0x7FFF_FFFF else 4, True if n <= 0x7FFF_FFFF else False)
        if kind == "chr":
            body = v[1:-1]
            n = _ESC.get(body[1], ord(body[1])) if body.startswith("\\") else ord(body)
            return Val(n, 1, True)
        if kind == "reg":
            if v == "$":
                return self.env.history_value(None, 0)
            if v.startswith("$$"):
                return self.env.history_value(None, int(v[2:] or 1))
            if v[1:].isdigit():
                return self.env.history_value(int(v[1:]), 0)
            return self.env.read_register(v[1:])
        if kind == "id":
            a = self.env.lookup_symbol(v)
            if a is None:
                raise ExprError(f'No symbol "{v}" in current context.')
            return Val(a, 8, False, lval=None, is_addr=True)
        if kind == "op" and v == "(":
            x = self.assignment()
            self.expect(")")
            return x
        raise ExprError(f"A syntax error in expression, near `{v} {self.rest()}'.".replace(
            " '", "'"))

    # ---------------------------------------------------------------- semantics
    def deref(self, addr: int, size: int, signed: bool) -> Val:
        data = self.env.read_memory(addr, size)
        return Val(wrap(int.from_bytes(data, "little"), size, signed), size, signed,
                   lval=("mem", addr, size))

    def apply(self, op: str, a: Val, b: Val) -> Val:
        x, y = a.value, b.value
        if op in ("==", "!=", "<", ">", "<=", ">=", "&&", "||"):
            r = {"==": x == y, "!=": x != y, "<": x < y, ">": x > y, "<=": x <= y,
                 ">=": x >= y, "&&": bool(x) and bool(y), "||": bool(x) or bool(y)}[op]
            return Val(int(r), 4, True)
        if op in ("/", "%"):
            if y == 0:
                raise ExprError("Division by zero")
            q = abs(x) // abs(y)
            q = q if (x >= 0) == (y >= 0) else -q          # C: truncate toward zero
            r = q if op == "/" else x - q * y
            return _arith(r, a, b)
        if op == "<<":
            return _arith(x << (y & 63), a, b)
        if op == ">>":
            return _arith(x >> (y & 63), a, b)
        r = {"+": x + y, "-": x - y, "*": x * y, "&": x & y, "|": x | y, "^": x ^ y}[op]
        out = _arith(r, a, b)
        if op in ("+", "-") and (a.is_addr or (b.is_addr and op == "+")) and \
                not (a.is_addr and b.is_addr):
            out = replace(out, is_addr=True, pointee=a.pointee or b.pointee)
        return out

    def assign(self, lhs: Val, rhs: Val) -> Val:
        if lhs.lval is None:
            raise ExprError("Left operand of assignment is not an lvalue.")
        if lhs.lval[0] == "reg":
            self.env.write_register(lhs.lval[1], rhs.u)
            return replace(self.env.read_register(lhs.lval[1]))
        _, addr, size = lhs.lval
        v = rhs.value & ((1 << (8 * size)) - 1)
        self.env.write_memory(addr, v.to_bytes(size, "little"))
        return self.deref(addr, size, lhs.signed)


def _arith(r: int, *vals: Val) -> Val:
    """Usual arithmetic conversions, simplified: the widest operand's size, unsigned if any
    operand of that size is unsigned."""
    size = max(v.size for v in vals)
    size = max(size, 4)
    signed = all(v.signed for v in vals if v.size == size)
    return Val(wrap(r, size, signed), size, signed)


def evaluate(text: str, env: Env, *, allow_assign: bool = False) -> Val:
    """Evaluate ``text``; raises :class:`ExprError`."""
    return _Parser(text, env, allow_assign).parse()


def split_top(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside parentheses and braces."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "({":
            depth += 1
        elif ch in ")}":
            depth -= 1
        if ch == sep and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out
