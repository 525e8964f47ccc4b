"""Symbol tables of several images (armvirt.debug.symbols) and the expression evaluator
(armvirt.debug.expr), without running a machine."""
from __future__ import annotations

import pytest

from armvirt.build import assemble
from armvirt.debug.expr import ExprError, Val, evaluate
from armvirt.debug.symbols import SymbolError, SymbolTable

FIRMWARE = """
    .global fw_entry
    .type fw_entry, %function
fw_entry:
    nop
    nop
fw_helper:
    ret
"""

GUEST = """
_start:
    bl      main
main:
    mov     x0, #1
    ret
"""


@pytest.fixture
def table(tmp_path):
    fw = assemble(FIRMWARE, 0x4000_0000, filename="fw.S")
    guest = assemble(GUEST, 0x4010_0000, filename="guest.S")
    fw_elf = tmp_path / "fw.elf"
    fw.to_elf(fw_elf)
    t = SymbolTable()
    t.add_elf(fw_elf)
    t.add_program(guest, "guest")
    return t, fw, guest


def test_two_images_resolve_names_and_addresses(table):
    t, fw, guest = table
    assert t.lookup("fw_entry") == 0x4000_0000
    assert t.lookup("main") == 0x4010_0004
    assert t.symbol("fw_entry").kind == "func" and t.symbol("fw_entry").binding == "global"
    assert t.describe(0x4000_0004) == "fw_entry+4"
    assert t.describe(0x4000_0008) == "fw_helper"
    assert t.describe(0x4010_0008) == "main+4"
    assert t.describe(0x4008_0000) == ""          # between the images: no symbol
    assert t.line_for(0x4000_0008) == ("fw.S", 8)
    assert t.line_for(0x4010_0004) == ("guest.S", 5)
    assert t.resolve_line("guest.S", 3) == ("guest.S", 3, 0x4010_0000)
    assert t.resolve_line("fw.S", 1) == ("fw.S", 5, 0x4000_0000)   # next line with code
    assert t.resolve_line("nope.S", 1) is None
    sym, start, end = t.function_range(0x4000_0004)
    assert (sym.name, start, end) == ("fw_entry", 0x4000_0000, 0x4000_0008)


def test_overlapping_images_are_looked_up_by_the_current_address_space():
    """A hypervisor and its guest both at 0x4000_0000: the image of the space being looked at
    (``space_of``) answers first, the other still answers what only it has."""
    t = SymbolTable()
    hyp = t.add_symbols("hv.elf", {"vectors": 0x4000_0000, "__guest_enter": 0x4000_0800},
                        ranges=[(0x4000_0000, 0x4000_1000)])
    guest = t.add_symbols("guest.elf", {"_start": 0x4000_0000},
                          ranges=[(0x4000_0000, 0x4000_0100)])
    hyp.space, guest.space = "hyp", "guest"
    space = ["hyp"]
    t.space_of = lambda: space[0]
    assert t.describe(0x4000_0010) == "vectors+16"
    space[0] = "guest"
    assert t.describe(0x4000_0010) == "_start+16"
    assert t.lookup("__guest_enter") == 0x4000_0800          # only the hypervisor has it
    t.space_of = None
    assert t.describe(0x4000_0010) == "vectors+16"           # no preference: load order


def test_missing_elf_is_one_line(tmp_path):
    with pytest.raises(SymbolError, match="no such file"):
        SymbolTable().add_elf(tmp_path / "nope.elf")


class Env:
    """Registers and memory for the evaluator, as plain dicts."""

    def __init__(self):
        self.regs = {"x0": 5, "sp": 0x4000_1000}
        self.mem = bytearray(64)
        self.history: list[Val] = []

    def read_register(self, name):
        if name not in self.regs:
            raise ExprError(f"Invalid register `{name}'")
        return Val(self.regs[name], 8, True, lval=("reg", name))

    def write_register(self, name, value):
        self.regs[name] = value

    def lookup_symbol(self, name):
        return {"buf": 16}.get(name)

    def read_memory(self, addr, size):
        if addr + size > len(self.mem):
            raise ExprError(f"Cannot access memory at address 0x{addr:x}")
        return bytes(self.mem[addr:addr + size])

    def write_memory(self, addr, data):
        self.mem[addr:addr + len(data)] = data

    def history_value(self, index, back):
        return self.history[-1 - back] if index is None else self.history[index - 1]


@pytest.mark.parametrize("text, value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("1 << 4 | 1", 17), ("-7 / 2", -3), ("-7 % 2", -1),
    ("0x10 & ~0x1", 16), ("$x0 * 2", 10), ("buf + 4", 20), ("'A'", 65), ("!0", 1),
    ("3 > 2 && 2 > 3", 0), ("(u8)0x1ff", 0xFF), ("(s8)0xff", -1), ("0b101 ^ 0o7", 2),
])
def test_expressions(text, value):
    assert evaluate(text, Env()).value == value


def test_memory_lvalues_and_assignment():
    env = Env()
    evaluate("*(u32*)buf = 0x11223344", env, allow_assign=True)
    assert env.mem[16:20] == bytes.fromhex("44332211")
    assert evaluate("{u16}(buf + 2)", env).value == 0x1122
    assert evaluate("*(u8*)(buf + 3)", env).value == 0x11
    evaluate("$x0 = $x0 + 1", env, allow_assign=True)
    assert env.regs["x0"] == 6
    with pytest.raises(ExprError, match="not allowed"):
        evaluate("$x0 = 1", env)
    with pytest.raises(ExprError, match="not an lvalue"):
        evaluate("1 = 2", env, allow_assign=True)
    with pytest.raises(ExprError, match="Cannot access memory"):
        evaluate("*(u64*)0x1000", env)
    with pytest.raises(ExprError, match='No symbol "nope"'):
        evaluate("nope", env)
    with pytest.raises(ExprError, match="No type named"):
        evaluate("{float}buf", env)
