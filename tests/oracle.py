"""Run short instruction sequences on armvirt and on unicorn, and compare the results.

Both start from the same registers, flags, FP/SIMD registers and a data window of memory, run
the same words at EL0 semantics (armvirt: EL0 with FP enabled; unicorn: its default EL1, which
makes no difference to the EL0 instructions compared here), and end in a ``State``. Tests give
addresses inside the data window to base registers; everything else is random.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pytest

CODE = 0x4000_0000
DATA = 0x4001_0000
DATA_SIZE = 0x1000
RAM = 1 << 20
U64 = (1 << 64) - 1


@dataclass
class State:
    x: list[int]                 # x0..x30 as unsigned
    sp: int
    pc: int
    nzcv: int                    # bits 31:28
    v: list[int] = field(default_factory=list)   # q0..q31 as unsigned 128-bit
    data: bytes = b""
    fault: str | None = None     # None, or a description of the exception taken
    fpsr: int | None = None      # compared when both sides have it (FP/SIMD tests)

    def diff(self, other: "State") -> list[str]:
        out = []
        for i, (a, b) in enumerate(zip(self.x, other.x)):
            if a != b:
                out.append(f"x{i}: 0x{a:x} != 0x{b:x}")
        if self.fpsr is not None and other.fpsr is not None and self.fpsr != other.fpsr:
            out.append(f"fpsr: 0x{self.fpsr:x} != 0x{other.fpsr:x}")
        for name in ("sp", "pc", "nzcv"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                out.append(f"{name}: 0x{a:x} != 0x{b:x}")
        for i, (a, b) in enumerate(zip(self.v, other.v)):
            if a != b:
                out.append(f"q{i}: 0x{a:x} != 0x{b:x}")
        if self.data != other.data:
            idx = next(i for i in range(len(self.data)) if self.data[i] != other.data[i])
            out.append(f"memory differs first at 0x{DATA + idx:x}")
        if (self.fault is None) != (other.fault is None):
            out.append(f"fault: {self.fault} != {other.fault}")
        return out


def _words_bytes(words: list[int]) -> bytes:
    return b"".join((w & 0xFFFF_FFFF).to_bytes(4, "little") for w in words)


class Ours:
    """One Machine reused across examples (construction is cheap; compilation is per process)."""

    def __init__(self):
        from armvirt.machine import Machine
        self.m = Machine(ram_size=RAM)

    def run(self, words, x, sp, nzcv, data, v=None, fpcr=None, fpsr=0) -> State:
        m = self.m
        pe = 0
        m.reset_pe(pe)
        m.write_phys(CODE, _words_bytes(words) + _words_bytes([0]))  # UDF after the snippet
        m.write_phys(DATA, data)
        m.boot_pe(pe, CODE, el=1)
        m.set_reg("VBAR_EL1", CODE + 0x8000)
        m.set_reg("CPACR_EL1", 3 << 20)        # FP/SIMD enabled at EL0 and EL1
        m.set_reg("el", 0)
        m.set_reg("spsel", 0)
        for i, val in enumerate(x):
            m.set_reg(f"x{i}", val)
        m.set_reg("sp", sp)
        m.set_reg("nzcv", nzcv)
        for i, val in enumerate(v or []):
            m.set_reg(f"q{i}", val)
        m.set_reg("FPCR", fpcr or 0)
        m.set_reg("FPSR", fpsr)
        m.step(len(words))
        fault = None
        if m.reg("el") != 0:
            fault = f"exception to EL{m.reg('el')}, ESR_EL1=0x{m.reg('ESR_EL1'):x}"
        return State([m.reg(f"x{i}") for i in range(31)], m.reg("sp"), m.reg("pc"),
                     m.reg("nzcv"), [m.reg(f"q{i}") for i in range(32)] if v is not None else [],
                     m.read_phys(DATA, DATA_SIZE), fault,
                     m.reg("FPSR") if fpcr is not None else None)


class Unicorn:
    def __init__(self):
        unicorn = pytest.importorskip("unicorn")
        from unicorn import arm64_const as A
        self.uc_mod, self.A = unicorn, A

    def run(self, words, x, sp, nzcv, data, v=None, fpcr=None, fpsr=0) -> State:
        uc_mod, A = self.uc_mod, self.A
        uc = uc_mod.Uc(uc_mod.UC_ARCH_ARM64, uc_mod.UC_MODE_ARM)
        uc.mem_map(CODE, 0x1000)
        uc.mem_map(DATA, DATA_SIZE)
        code = _words_bytes(words)
        uc.mem_write(CODE, code)
        uc.mem_write(DATA, bytes(data))
        for i, val in enumerate(x):
            uc.reg_write(getattr(A, f"UC_ARM64_REG_X{i}"), val & U64)
        uc.reg_write(A.UC_ARM64_REG_SP, sp & U64)
        uc.reg_write(A.UC_ARM64_REG_NZCV, nzcv)
        for i, val in enumerate(v or []):
            uc.reg_write(getattr(A, f"UC_ARM64_REG_Q{i}"), val)
        if fpcr is not None:
            uc.reg_write(A.UC_ARM64_REG_FPCR, fpcr)
            uc.reg_write(A.UC_ARM64_REG_FPSR, fpsr)
        fault = None
        try:
            uc.emu_start(CODE, CODE + len(code), count=len(words))
        except uc_mod.UcError as e:
            fault = str(e)
        return State([uc.reg_read(getattr(A, f"UC_ARM64_REG_X{i}")) for i in range(31)],
                     uc.reg_read(A.UC_ARM64_REG_SP), uc.reg_read(A.UC_ARM64_REG_PC),
                     uc.reg_read(A.UC_ARM64_REG_NZCV),
                     [uc.reg_read(getattr(A, f"UC_ARM64_REG_Q{i}")) for i in range(32)]
                     if v is not None else [],
                     bytes(uc.mem_read(DATA, DATA_SIZE)), fault,
                     uc.reg_read(A.UC_ARM64_REG_FPSR) if fpcr is not None else None)


_ours: Ours | None = None
_uc: Unicorn | None = None


def compare(words: list[int], x: list[int], sp: int = DATA + DATA_SIZE - 0x100, nzcv: int = 0,
            data: bytes = bytes(DATA_SIZE), v: list[int] | None = None,
            fpcr: int | None = None, fpsr: int = 0) -> State:
    """Run ``words`` on both; assert identical registers, flags, FP regs (when ``v`` given),
    FPSR (when ``fpcr`` is given: both start from ``fpcr``/``fpsr``), memory and
    fault/no-fault. Returns armvirt's state."""
    global _ours, _uc
    if _uc is None:
        _uc = Unicorn()
    if _ours is None:
        _ours = Ours()
    x = list(x) + [0] * (31 - len(x))
    a = _ours.run(words, x, sp, nzcv, data, v, fpcr, fpsr)
    b = _uc.run(words, x, sp, nzcv, data, v, fpcr, fpsr)
    if a.fault is not None and b.fault is not None:
        return a  # both refused the instruction: the registers after a fault are not comparable
    problems = a.diff(b)
    assert not problems, ("armvirt and unicorn disagree on "
                          + " ".join(f"{w:08x}" for w in words) + ":\n  " + "\n  ".join(problems))
    return a
