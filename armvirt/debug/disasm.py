"""A64 disassembly for the debugger (``x/i``, ``disas``, the stop display), around capstone.

Capstone is the project's decoding oracle (``tests/test_decoder.py``), so what the debugger
shows is what an independent decoder reads in the bytes, not what our decoder thinks. Words
capstone does not know print as ``.inst 0x…`` (gdb prints ``(bad)``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

_CS = None

# Instructions whose immediate operand is a PC-relative *address* (A64 "Branches, Exception
# Generating and System instructions", "PC-rel. addressing", "Load register (literal)"): the
# debugger names the target <sym+off>.
_PCREL = re.compile(r"^(b|bl|b\..+|bc\..+|cbn?z|tbn?z|adrp?|ldr|ldrsw|prfm)$")
_IMM_ADDR = re.compile(r"#(0x[0-9a-f]+)$")
CALLS = frozenset({"bl", "blr", "blraa", "blrab", "blraaz", "blrabz"})


def _capstone():
    global _CS
    if _CS is None:
        import capstone
        arch = getattr(capstone, "CS_ARCH_ARM64", None)
        if arch is None:  # capstone >= 6 renamed the architecture
            arch = capstone.CS_ARCH_AARCH64
        _CS = capstone.Cs(arch, capstone.CS_MODE_ARM)
    return _CS


@dataclass(frozen=True)
class Insn:
    addr: int
    word: int
    mnemonic: str
    op_str: str

    @property
    def text(self) -> str:
        return f"{self.mnemonic}\t{self.op_str}" if self.op_str else self.mnemonic

    @property
    def is_call(self) -> bool:
        """BL and BLR (and the pointer-authenticated BLRA*): the calls ``next`` steps over."""
        return self.mnemonic in CALLS

    def target(self) -> int | None:
        """The address a PC-relative operand names (branch target, ADR/ADRP result, literal)."""
        if not _PCREL.match(self.mnemonic) or "[" in self.op_str:
            return None
        m = _IMM_ADDR.search(self.op_str)
        return int(m.group(1), 16) if m else None


def disassemble_one(word: int, addr: int) -> Insn:
    """Disassemble one 32-bit instruction word located at ``addr``."""
    cs = _capstone()
    for i in cs.disasm(word.to_bytes(4, "little"), addr):
        return Insn(addr, word, i.mnemonic, i.op_str)
    return Insn(addr, word, ".inst", f"0x{word:08x}")


def disassemble(code: bytes, addr: int) -> list[Insn]:
    """Disassemble ``code`` (a multiple of 4 bytes) located at ``addr``, one Insn per word."""
    return [disassemble_one(int.from_bytes(code[i:i + 4], "little"), addr + i)
            for i in range(0, len(code) - len(code) % 4, 4)]


def annotate(insn: Insn, describe: Callable[[int], str]) -> str:
    """``mnemonic\\toperands`` with a PC-relative target named ``<sym+off>`` when known."""
    t = insn.target()
    if t is not None:
        name = describe(t)
        if name:
            return f"{insn.text} <{name}>"
    return insn.text
