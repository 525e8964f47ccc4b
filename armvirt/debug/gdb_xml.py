"""The register set armvirt shows GDB, and the target description that tells GDB about it.

GDB learns the registers of a remote target from an XML *target description* it reads with
``qXfer:features:read:target.xml`` (GDB manual, appendix "Target Descriptions": "Target
Description Format" and, for the names GDB requires, "Standard Target Features" → "AArch64
Features"). armvirt's description has three features, numbered consecutively as GDB's own
AArch64 layout expects (``aarch64-tdep.h``: x0 = 0 … cpsr = 33, v0 = 34 … fpcr = 67):

``org.gnu.gdb.aarch64.core``
    x0–x30, sp, pc (64-bit) and cpsr (32-bit, PSTATE in the SPSR layout, with named fields).
``org.gnu.gdb.aarch64.fpu``
    v0–v31 as 128-bit unions of vectors (``$v0.d.u[1]``, ``$v3.s.f``, …; GDB derives its q/d/s/h/b
    pseudo registers from them), fpsr and fpcr (32-bit).
``org.armvirt.aarch64.sysregs`` (armvirt's own)
    every *readable* system register of ``armvirt/cpu/sysreg_table.py`` — EL1 and EL2 ones alike
    (QEMU's stub leaves the EL2 registers out) — under its lower-case Arm name, 64 bits wide, in
    GDB's ``system`` register group (``info registers system``, ``p $hcr_el2``). FPCR and FPSR are
    not repeated there: the fpu feature already has them. Numbers start at 68, in table order.

``org.armvirt.aarch64.sysregs-upper`` (armvirt's own)
    the same registers again under their upper-case Arm names, as the Arm ARM and armvirt's REPL
    write them (``p $ESR_EL2``): GDB matches register names case-sensitively and has no alias
    mechanism a target can use, so each name is a register of its own, reading and writing the
    same system register (in group ``upper``, so ``info registers system`` lists each once).
    GDB caches register values until the next stop: after writing one spelling, the other
    shows the new value from the next stop on (or ``maintenance flush register-cache``).

The table in ``sysreg_table.py`` is the only source of names and encodings: adding a register
there adds it here. :data:`REGISTERS` is the numbering the stub's ``p``/``P``/``g``/``G`` packets
use.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from xml.sax.saxutils import quoteattr

from armvirt.cpu import sysreg_table as T

FEATURE_CORE = "org.gnu.gdb.aarch64.core"
FEATURE_FPU = "org.gnu.gdb.aarch64.fpu"
FEATURE_SYSREGS = "org.armvirt.aarch64.sysregs"
FEATURE_SYSREGS_UPPER = "org.armvirt.aarch64.sysregs-upper"

NUM_CORE = 34          # x0..x30, sp, pc, cpsr: the registers of the 'g' packet
REG_SP = 31
REG_PC = 32
REG_CPSR = 33
REG_V0 = 34
REG_FPSR = 66
REG_FPCR = 67
FIRST_SYSREG = 68


@dataclass(frozen=True)
class GdbRegister:
    """One register as GDB numbers it (``num``, the ``regnum`` of the XML)."""

    num: int
    name: str                 # as GDB shows it ($name)
    bits: int                 # 32, 64 or 128
    feature: str
    type: str                 # XML type
    sysreg: T.SysReg | None = None   # the table record, for registers of the sysregs feature

    @property
    def size(self) -> int:
        return self.bits // 8


def _sysreg_entries() -> list[T.SysReg]:
    in_fpu = {"FPCR", "FPSR"}
    return [r for r in T.SYSREGS if r.access & T.ACC_R and r.name not in in_fpu]


@lru_cache(maxsize=1)
def registers() -> tuple[GdbRegister, ...]:
    """Every register of the target description, indexed by GDB register number."""
    regs = [GdbRegister(i, f"x{i}", 64, FEATURE_CORE, "int") for i in range(31)]
    regs += [GdbRegister(REG_SP, "sp", 64, FEATURE_CORE, "data_ptr"),
             GdbRegister(REG_PC, "pc", 64, FEATURE_CORE, "code_ptr"),
             GdbRegister(REG_CPSR, "cpsr", 32, FEATURE_CORE, "cpsr_flags")]
    regs += [GdbRegister(REG_V0 + i, f"v{i}", 128, FEATURE_FPU, "aarch64v") for i in range(32)]
    regs += [GdbRegister(REG_FPSR, "fpsr", 32, FEATURE_FPU, "fpsr_flags", T.BY_NAME["FPSR"]),
             GdbRegister(REG_FPCR, "fpcr", 32, FEATURE_FPU, "fpcr_flags", T.BY_NAME["FPCR"])]
    for i, r in enumerate(_sysreg_entries()):
        regs.append(GdbRegister(FIRST_SYSREG + i, r.name.lower(), 64, FEATURE_SYSREGS,
                                "uint64", r))
    first_upper = len(regs)
    for i, r in enumerate(_sysreg_entries()):
        regs.append(GdbRegister(first_upper + i, r.name, 64, FEATURE_SYSREGS_UPPER,
                                "uint64", r))
    assert all(r.num == i for i, r in enumerate(regs))
    return tuple(regs)


@lru_cache(maxsize=1)
def by_name() -> dict[str, GdbRegister]:
    return {r.name: r for r in registers()}


# PSTATE fields in the SPSR layout that the core implements (Arm ARM C5.2.18 SPSR_EL2; GDB's
# aarch64-core.xml names them the same way).
_CPSR_FIELDS = (("SP", 0, 0), ("EL", 2, 3), ("nRW", 4, 4), ("F", 6, 6), ("I", 7, 7),
                ("A", 8, 8), ("D", 9, 9), ("IL", 20, 20), ("SS", 21, 21), ("PAN", 22, 22),
                ("V", 28, 28), ("C", 29, 29), ("Z", 30, 30), ("N", 31, 31))
# FPSR and FPCR fields of Armv8.0 (Arm ARM C5.2.8 FPSR, C5.2.7 FPCR).
_FPSR_FIELDS = (("IOC", 0, 0), ("DZC", 1, 1), ("OFC", 2, 2), ("UFC", 3, 3), ("IXC", 4, 4),
                ("IDC", 7, 7), ("QC", 27, 27), ("V", 28, 28), ("C", 29, 29), ("Z", 30, 30),
                ("N", 31, 31))
_FPCR_FIELDS = (("IOE", 8, 8), ("DZE", 9, 9), ("OFE", 10, 10), ("UFE", 11, 11),
                ("IXE", 12, 12), ("IDE", 15, 15), ("FZ16", 19, 19), ("RMode", 22, 23),
                ("FZ", 24, 24), ("DN", 25, 25), ("AHP", 26, 26))

# The vector views of a V register, as GDB's aarch64-fpu.xml spells them (so that expressions
# like $v0.d.u[0] written for QEMU or a native GDB work unchanged).
_VECTORS = (("v2d", "ieee_double", 2), ("v2u", "uint64", 2), ("v2i", "int64", 2),
            ("v4f", "ieee_single", 4), ("v4u", "uint32", 4), ("v4i", "int32", 4),
            ("v8f", "ieee_half", 8), ("v8u", "uint16", 8), ("v8i", "int16", 8),
            ("v16u", "uint8", 16), ("v16i", "int8", 16),
            ("v1u", "uint128", 1), ("v1i", "int128", 1))
_UNIONS = (("vnd", (("f", "v2d"), ("u", "v2u"), ("s", "v2i"))),
           ("vns", (("f", "v4f"), ("u", "v4u"), ("s", "v4i"))),
           ("vnh", (("f", "v8f"), ("u", "v8u"), ("s", "v8i"))),
           ("vnb", (("u", "v16u"), ("s", "v16i"))),
           ("vnq", (("u", "v1u"), ("s", "v1i"))),
           ("aarch64v", (("d", "vnd"), ("s", "vns"), ("h", "vnh"), ("b", "vnb"),
                         ("q", "vnq"))))


def _flags(out: list[str], ident: str, fields) -> None:
    out.append(f'    <flags id="{ident}" size="4">')
    for name, lo, hi in fields:
        out.append(f'      <field name="{name}" start="{lo}" end="{hi}"/>')
    out.append("    </flags>")


def _reg(r: GdbRegister, extra: str = "") -> str:
    return (f'    <reg name={quoteattr(r.name)} bitsize="{r.bits}" type="{r.type}" '
            f'regnum="{r.num}"{extra}/>')


@lru_cache(maxsize=1)
def target_xml() -> str:
    """The complete, self-contained target description (no ``xi:include``)."""
    regs = registers()
    out = ['<?xml version="1.0"?>',
           '<!DOCTYPE target SYSTEM "gdb-target.dtd">',
           '<target version="1.0">',
           "  <architecture>aarch64</architecture>",
           f'  <feature name="{FEATURE_CORE}">']
    _flags(out, "cpsr_flags", _CPSR_FIELDS)
    out += [_reg(r) for r in regs[:NUM_CORE]]
    out += ["  </feature>", f'  <feature name="{FEATURE_FPU}">']
    for ident, typ, count in _VECTORS:
        out.append(f'    <vector id="{ident}" type="{typ}" count="{count}"/>')
    for ident, fields in _UNIONS:
        out.append(f'    <union id="{ident}">')
        out += [f'      <field name="{n}" type="{t}"/>' for n, t in fields]
        out.append("    </union>")
    _flags(out, "fpsr_flags", _FPSR_FIELDS)
    _flags(out, "fpcr_flags", _FPCR_FIELDS)
    out += [_reg(r) for r in regs[REG_V0:FIRST_SYSREG]]
    out += ["  </feature>", f'  <feature name="{FEATURE_SYSREGS}">']
    # save-restore="no": GDB must not write the whole system-register file back after an
    # inferior function call (some of them are read-only, and it would undo guest changes).
    out += [_reg(r, ' group="system" save-restore="no"') for r in regs[FIRST_SYSREG:]
            if r.feature == FEATURE_SYSREGS]
    out += ["  </feature>", f'  <feature name="{FEATURE_SYSREGS_UPPER}">']
    out += [_reg(r, ' group="upper" save-restore="no"') for r in regs[FIRST_SYSREG:]
            if r.feature == FEATURE_SYSREGS_UPPER]
    out += ["  </feature>", "</target>", ""]
    return "\n".join(out)
