"""Translation walks as data, for people: what ``Machine.translate`` returns and ``pt`` prints.

The jitted walker (``armvirt.cpu.mmu``) records every descriptor it reads — stage 1 levels and,
under virtualization, the stage 2 walks of each stage 1 table address and of the final IPA —
into the ``S_WALK`` region. This module turns that record into ``Walk``/``Step`` objects with
the descriptor fields decoded by name (Arm ARM D8.3 "Translation table descriptor formats"),
and renders them as text: the two-dimensional walk that virtualization adds, step by step.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from armvirt import layout as L
from armvirt.cpu import mmu

FAULT_TYPES = {mmu.FSC_ADDR_SIZE: "address_size", mmu.FSC_TRANSLATION: "translation",
               mmu.FSC_ACCESS_FLAG: "access_flag", mmu.FSC_PERMISSION: "permission",
               mmu.FSC_EXTERNAL_WALK: "external"}
MASK64 = (1 << 64) - 1


def fault_type(fsc: int) -> str:
    if fsc == mmu.FSC_ALIGNMENT:
        return "alignment"
    if fsc == mmu.FSC_EXTERNAL:
        return "external"
    return FAULT_TYPES.get(fsc & ~3, f"fsc {fsc:#x}")


@dataclass(frozen=True)
class WalkFault:
    """A fault as the architecture reports it: ``fsc`` is the DFSC/IFSC (and PAR_EL1.FST)."""
    type: str
    level: int
    stage: int
    s1ptw: bool
    fsc: int
    ipa: Optional[int] = None     # the faulting IPA of a stage 2 fault (HPFAR_EL2.FIPA << 12)

    def __str__(self) -> str:
        where = f"stage {self.stage}" + (" (on the stage 1 walk)" if self.s1ptw else "")
        ipa = f", IPA {self.ipa:#x}" if self.ipa is not None else ""
        return f"{self.type.replace('_', ' ')} fault, level {self.level}, {where}{ipa} " \
               f"(FSC {self.fsc:#04x})"


@dataclass(frozen=True)
class Step:
    """One descriptor read: which stage and level, the address being translated, where the
    descriptor is (a physical address) and its value (None: nothing answered there)."""
    stage: int
    level: int
    s1ptw: bool
    input_addr: int
    desc_pa: int
    desc: Optional[int]

    @property
    def kind(self) -> str:
        """table / block / page / invalid / reserved / external (D8.3)."""
        d = self.desc
        if d is None:
            return "external"
        if d & 1 == 0:
            return "invalid"
        if d & 3 == 1:
            return "reserved" if self.level == 3 else "block"
        return "page" if self.level == 3 else "table"

    @property
    def fields(self) -> dict:
        """The descriptor's fields by their Arm ARM names."""
        d = self.desc
        k = self.kind
        if d is None or k in ("invalid", "reserved"):
            return {}
        addr = d & 0x0000_FFFF_FFFF_F000
        if k == "table":
            out = {"next_table": addr}
            if self.stage == 1:
                out.update(PXNTable=(d >> 59) & 1, UXNTable=(d >> 60) & 1,
                           APTable=(d >> 61) & 3, NSTable=(d >> 63) & 1)
            return out
        out = {"output_address": addr, "AF": (d >> 10) & 1, "SH": (d >> 8) & 3,
               "Contiguous": (d >> 52) & 1}
        if self.stage == 1:
            out.update(AttrIndx=(d >> 2) & 7, AP=(d >> 6) & 3, nG=(d >> 11) & 1,
                       PXN=(d >> 53) & 1, UXN=(d >> 54) & 1)
        else:
            out.update(MemAttr=(d >> 2) & 0xF, S2AP=(d >> 6) & 3, XN=(d >> 54) & 1)
        return out

    def describe(self) -> str:
        tag = f"S{self.stage} L{self.level}"
        if self.s1ptw:
            tag += " (for S1 table)"
        head = f"{tag:<20} in {self.input_addr & MASK64:#018x}  desc @ {self.desc_pa:#012x}"
        if self.desc is None:
            return f"{head}  (nothing answers: external abort)"
        fields = " ".join(f"{k}={v:#x}" if k in ("next_table", "output_address") else f"{k}={v}"
                          for k, v in self.fields.items())
        return f"{head} = {self.desc:#018x}  {self.kind:<8} {fields}".rstrip()


@dataclass
class Walk:
    """The whole translation of one address: every step of both stages, then the outcome."""
    va: int
    el: int
    access: str
    stage1: bool
    stage2: bool
    steps: list[Step] = field(default_factory=list)
    fault: Optional[WalkFault] = None
    pa: Optional[int] = None
    ipa: Optional[int] = None
    info: int = 0

    @property
    def ok(self) -> bool:
        return self.fault is None

    @property
    def attributes(self) -> dict:
        """Memory attributes and permissions of a successful walk (decoded info word)."""
        i = self.info
        out: dict = {"device": bool(i & mmu.I_DEVICE),
                     "mair_attr": (i >> mmu.I_ATTR_SHIFT) & 0xFF}
        if i & mmu.I_S1:
            out.update(AttrIndx=(i >> mmu.I_ATTRINDX_SHIFT) & 7, nG=bool(i & mmu.I_NG),
                       s1_level=(i >> mmu.I_S1LEVEL_SHIFT) & 3,
                       s1_size=1 << ((i >> mmu.I_S1BLOCK_SHIFT) & 0x3F),
                       priv="r" + ("w" if i & mmu.I_PRIV_W else "-")
                       + ("x" if i & mmu.I_PRIV_X else "-"),
                       user=("r" if i & mmu.I_USER_R else "-")
                       + ("w" if i & mmu.I_USER_W else "-") + ("x" if i & mmu.I_USER_X else "-"))
        if i & mmu.I_S2:
            out.update(s2_level=(i >> mmu.I_S2LEVEL_SHIFT) & 3,
                       s2_size=1 << ((i >> mmu.I_S2BLOCK_SHIFT) & 0x3F),
                       MemAttr=(i >> mmu.I_S2MEMATTR_SHIFT) & 0xF,
                       s2=("r" if i & mmu.I_S2R else "-") + ("w" if i & mmu.I_S2W else "-")
                       + ("x" if i & mmu.I_S2X else "-"))
        return out

    @property
    def descriptor_reads(self) -> int:
        return len(self.steps)

    def format(self) -> str:
        """The walk as text, one line per descriptor read (what ``pt`` prints)."""
        stages = " + ".join(s for s, on in (("stage 1", self.stage1), ("stage 2", self.stage2))
                            if on) or "no translation (MMU off)"
        lines = [f"{self.access} of {self.va & MASK64:#018x} at EL{self.el}: {stages}"]
        lines += ["  " + s.describe() for s in self.steps]
        if self.fault is not None:
            lines.append(f"  => {self.fault}")
        else:
            via = f" via IPA {self.ipa:#x}" if self.stage2 and self.ipa is not None else ""
            attrs = " ".join(f"{k}={v:#x}" if k.endswith("size") else f"{k}={v}"
                             for k, v in self.attributes.items())
            lines.append(f"  => PA {self.pa:#x}{via}  ({len(self.steps)} descriptor reads)")
            lines.append(f"     {attrs}")
        return "\n".join(lines)


def from_record(state, va: int, el: int, access: str, ctl: int) -> Walk:
    """Build a Walk from the ``S_WALK`` record the jitted ``inspect`` left in ``state``."""
    base = L.S_WALK
    n = int(state[base + mmu.WR_N])
    steps = []
    for k in range(n):
        r = base + mmu.WR_STEPS + k * mmu.WR_STEP_WIDTH
        kind = int(state[r])
        ext = bool(kind & mmu.STEP_EXTERNAL)
        steps.append(Step(stage=2 if kind & mmu.STEP_STAGE2 else 1, level=kind & 3,
                          s1ptw=bool(kind & mmu.STEP_S1PTW), input_addr=int(state[r + 1]),
                          desc_pa=int(state[r + 2]),
                          desc=None if ext else int(state[r + 3]) & MASK64))
    f = int(state[base + mmu.WR_FAULT])
    ipa = int(state[base + mmu.WR_IPA])
    w = Walk(va=va, el=el, access=access, stage1=bool(ctl & 1), stage2=bool(ctl & 2),
             steps=steps, info=int(state[base + mmu.WR_INFO]))
    if f:
        fsc = f & mmu.F_FSC_MASK
        s2 = bool(f & mmu.F_STAGE2)
        w.fault = WalkFault(fault_type(fsc), fsc & 3 if fsc < 0x20 else 0, 2 if s2 else 1,
                            bool(f & mmu.F_S1PTW), fsc, ipa if s2 else None)
    else:
        w.pa = int(state[base + mmu.WR_PA])
        w.ipa = ipa
    return w
