"""Reference (plain-Python, deliberately slow and literal) AArch64 translation table walker.

Written from the Arm ARM pseudocode, DDI 0487, chapter D8 "The AArch64 Virtual Memory System
Architecture" and the shared/translation ASL (AArch64.S1Translate, AArch64.S1Walk,
AArch64.S2Translate, AArch64.S2Walk, AArch64.S1HasPermissionsFault,
AArch64.S2HasPermissionsFault, ...), restricted to the features the emulator advertises:

* ARMv8.0 VMSA + FEAT_PAN (v8.1). No FEAT_LPA/LPA2 (so OA <= 48 bits, no 52-bit forms),
  no FEAT_TTST (TnSZ <= 39), no FEAT_HAFDBS (AF=0 always faults, DBM ignored), no FEAT_XNX,
  no FEAT_UAO/EPAN/PAN3, no FEAT_BBM, no VHE (EL2&0 regime), no Secure state, little-endian
  descriptors only, contiguous bit ignored (it is only a TLB hint).
* PA size 40 bits: ID_AA64MMFR0_EL1.PARange = 0b0010 (``PAMAX``); 16-bit ASIDs (TCR.AS
  selects 8/16), 8-bit VMID (VTCR_EL2.VS not implemented).

It shares no code with armvirt (not even bit helpers): its job is to be an independent oracle.

Where the architecture leaves a choice (CONSTRAINED UNPREDICTABLE) the choice made here is the
"generate a fault" one and is written next to the code: TnSZ outside [16, 39] and a stage-2
input size larger than the PA size produce a level 0 translation fault.

``mem`` is a callable ``read64(pa) -> int | None``; ``None`` means nothing answers there, which
becomes a synchronous external abort on the translation table walk.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Optional

PAMAX = 40                     # AArch64.PAMax(): ID_AA64MMFR0_EL1.PARange = 0b0010
Read64 = Callable[[int], Optional[int]]

# Granule size in bits ("grainsize" in the ASL) from TCR_ELx.TG0 / VTCR_EL2.TG0 and TCR_EL1.TG1.
TG0_GRANULE = {0b00: 12, 0b01: 16, 0b10: 14}
TG1_GRANULE = {0b10: 12, 0b11: 16, 0b01: 14}
# AArch64.PS / IPS decoding (AArch64.PAMax caps it): TCR.IPS, TCR_EL2.PS, VTCR_EL2.PS.
PS_BITS = {0b000: 32, 0b001: 36, 0b010: 40, 0b011: 42, 0b100: 44, 0b101: 48, 0b110: 52}
# Lowest level at which a block descriptor is allowed ("firstblocklevel",
# AArch64.BlockDescSupported without FEAT_LPA/LPA2): 4K -> 1 GiB at level 1,
# 16K -> 32 MiB at level 2, 64K -> 512 MiB at level 2.
FIRST_BLOCK_LEVEL = {12: 1, 14: 2, 16: 2}

REGIME_EL10 = "EL10"
REGIME_EL2 = "EL2"


def bits(x: int, hi: int, lo: int) -> int:
    """x<hi:lo> (empty range, hi < lo, is 0)."""
    if hi < lo:
        return 0
    return (x >> lo) & ((1 << (hi - lo + 1)) - 1)


def bit(x: int, n: int) -> int:
    return (x >> n) & 1


@dataclass(frozen=True)
class Access:
    """One memory access (the AccessDescriptor fields the walk needs).

    kind: "read", "write" or "exec" (an instruction fetch);
    unpriv: LDTR/STTR-style unprivileged access (AccessType AccType_UNPRIV / accdesc.unpriv).
    """
    kind: str = "read"
    unpriv: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("read", "write", "exec"):
            raise ValueError(self.kind)

    @property
    def is_fetch(self) -> bool:
        return self.kind == "exec"

    @property
    def is_write(self) -> bool:
        return self.kind == "write"


READ = Access("read")
WRITE = Access("write")
FETCH = Access("exec")


@dataclass(frozen=True)
class Stage2:
    """The stage 2 controls: VTCR_EL2 and VTTBR_EL2 (HCR_EL2.VM = 1 implied by passing one)."""
    vtcr: int
    vttbr: int


@dataclass(frozen=True)
class Fault:
    """FaultRecord subset. type: translation | access_flag | permission | address_size | external.

    stage: 1 or 2; s1ptw: stage 2 fault on a stage 1 table walk (ESR_EL2.ISS.S1PTW);
    ipa: the faulting IPA for stage 2 faults (what HPFAR_EL2 reports); va: the input VA for
    faults raised by walk_s1; write: ESR.WnR (always False for S1PTW faults, which are reads).
    """
    type: str
    level: int
    stage: int
    s1ptw: bool = False
    ipa: Optional[int] = None
    va: Optional[int] = None
    write: bool = False


@dataclass
class Result:
    """Outcome of walk_s1/walk_s2: ``fault`` is None on success.

    pa: final output address (after stage 2 when there is one); ipa: stage 1 output when a
    stage 2 follows; level / block_size: of the leaf descriptor of *this* stage;
    attr_index: stage 1 AttrIndx (MAIR index) or stage 2 MemAttr[3:0]; ng: nG bit (stage 1,
    EL1&0 only); asid/vmid recorded for TLB tagging; chain: [(level, descriptor PA,
    descriptor value)] in walk order for this stage; s2: the Result of the final stage 2
    translation of the output IPA; perms: dict of the decoded permissions (for debugging).
    """
    fault: Optional[Fault] = None
    pa: Optional[int] = None
    ipa: Optional[int] = None
    level: Optional[int] = None
    block_size: Optional[int] = None
    attr_index: Optional[int] = None
    ng: bool = False
    asid: Optional[int] = None
    vmid: Optional[int] = None
    chain: list = field(default_factory=list)
    s2: Optional["Result"] = None
    perms: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.fault is None


def _fault(kind: str, level: int, stage: int, access: Access, *, s1ptw=False, ipa=None, va=None,
           chain=None) -> Result:
    return Result(fault=Fault(kind, level, stage, s1ptw, ipa, va, access.is_write and not s1ptw),
                  chain=list(chain or []))


def ps_bits(field_value: int) -> int:
    """Output address size from an IPS/PS field, capped by PAMax (AArch64.PAMax, "if the value is
    larger than the implemented PA size, the implemented PA size is used")."""
    return min(PS_BITS.get(field_value, PAMAX), PAMAX)


def start_level_s1(inputsize: int, granule_bits: int) -> int:
    """AArch64.S1StartLevel: 4 - (1 + ((inputsize - grainsize - 1) DIV stride))."""
    stride = granule_bits - 3
    return 4 - (1 + (inputsize - granule_bits - 1) // stride)


def level_bottom(level: int, granule_bits: int) -> int:
    """Lowest input-address bit resolved at ``level``: (3 - level) * stride + grainsize."""
    return (3 - level) * (granule_bits - 3) + granule_bits


# ------------------------------------------------------------------------------------------
# The common descent loop (the "repeat ... until" of AArch64.S1Walk / AArch64.S2Walk)
# ------------------------------------------------------------------------------------------

def _descend(mem: Read64, addr: int, *, inputsize: int, granule_bits: int, startlevel: int,
             base: int, outputsize: int, stage: int, fetch_desc):
    """Walk the tables for ``addr`` from ``base`` at ``startlevel``.

    ``fetch_desc(level, descaddr)`` returns (pa, None) or (None, Result-with-fault) and is where
    stage 1 walks go through stage 2 (AArch64.S2Translate of each descriptor IPA).
    Returns (level, desc, bottom, chain, table_attrs, None) or (..., fault Result).
    Implements AArch64.S1Walk/S2Walk: AArch64.TTEntryAddress, AArch64.DecodeDescriptorType,
    the table address size check (AArch64.OAOutOfRange on the next-level table address),
    and for stage 1 the accumulation of APTable/UXNTable/PXNTable (AArch64.S1NextWalkStateTable).
    """
    level = startlevel
    top = inputsize - 1
    chain = []
    apt1 = apt0 = xnt = pxnt = 0
    while True:
        bottom = level_bottom(level, granule_bits)
        descaddr = base | (bits(addr, top, bottom) << 3)          # AArch64.TTEntryAddress
        pa, err = fetch_desc(level, descaddr)
        if err is not None:
            err.chain = chain
            return None, err
        desc = mem(pa)
        if desc is None:                                           # external abort on the walk
            return None, ("external", level, chain)
        chain.append((level, pa, desc))
        # AArch64.DecodeDescriptorType: bit0 == 0 -> Invalid; '01' at level 3 -> Invalid
        # (reserved); '11' at level 3 -> Page; '01' -> Block; '11' -> Table.
        if bit(desc, 0) == 0 or (bits(desc, 1, 0) == 0b01 and level == 3):
            return None, ("translation", level, chain)
        if bits(desc, 1, 0) == 0b01 or level == 3:
            break                                                  # Block or Page: leaf
        # Table descriptor: next-level table address desc<47:grainsize>.
        if bits(desc, 47, outputsize) != 0:                        # AArch64.OAOutOfRange
            return None, ("address_size", level, chain)
        base = bits(desc, 47, granule_bits) << granule_bits
        if stage == 1:   # hierarchical attributes, ignored (RES0/IGNORED) at stage 2
            pxnt |= bit(desc, 59)
            xnt |= bit(desc, 60)
            apt0 |= bit(desc, 61)
            apt1 |= bit(desc, 62)
        level += 1
        top = bottom - 1
    # AArch64.BlockDescSupported: a block below firstblocklevel is reserved -> translation fault.
    if level < FIRST_BLOCK_LEVEL[granule_bits]:
        return None, ("translation", level, chain)
    # Output address size check on the leaf (AArch64.OAOutOfRange in S1Walk/S2Walk).
    if bits(desc, 47, outputsize) != 0:
        return None, ("address_size", level, chain)
    return (level, desc, bottom, chain, (apt0, apt1, xnt, pxnt)), None


def _walk_fault(err, stage, access, **kw) -> Result:
    if isinstance(err, Result):
        return err
    kind, level, chain = err
    return _fault(kind, level, stage, access, chain=chain, **kw)


# ------------------------------------------------------------------------------------------
# Stage 2
# ------------------------------------------------------------------------------------------

def s2_start_level(vtcr: int) -> Optional[int]:
    """VTCR_EL2.SL0 decoding (AArch64.S2StartLevel): 4K: 2 - SL0 (SL0=0b11 reserved without
    FEAT_TTST/LPA2); 16K and 64K: 3 - SL0 (SL0=0b11 reserved without FEAT_LPA2/LPA)."""
    sl0 = bits(vtcr, 7, 6)
    g = TG0_GRANULE.get(bits(vtcr, 15, 14))
    if g is None or sl0 == 0b11:
        return None
    return (2 - sl0) if g == 12 else (3 - sl0)


def s2_config_valid(vtcr: int) -> bool:
    """AArch64.S2InvalidSL + AArch64.S2InconsistentSL + the T0SZ range checks (a False here is a
    stage 2 level 0 translation fault for every IPA)."""
    g = TG0_GRANULE.get(bits(vtcr, 15, 14))
    if g is None:
        return False
    inputsize = 64 - bits(vtcr, 5, 0)
    # RESTnSZ (T0SZ outside [16, 39]) and LARGEIPA (input size > PAMax): Constraint_FAULT.
    if not 25 <= inputsize <= 48 or inputsize > PAMAX:
        return False
    level = s2_start_level(vtcr)
    if level is None:
        return False
    # AArch64.S2InvalidSL: start levels needing a larger PA size than implemented.
    if g == 12 and level == 0 and PAMAX <= 42:
        return False
    if g == 14 and (level == 0 or (level == 1 and PAMAX <= 40)):
        return False
    if g == 16 and (level == 0 or (level == 1 and PAMAX <= 42)):
        return False
    # AArch64.S2InconsistentSL: log2(number of start-level entries) must be in [1, stride + 4]
    # (up to 16 concatenated tables at the start level).
    startsizecheck = inputsize - level_bottom(level, g)
    return 1 <= startsizecheck <= (g - 3) + 4


def walk_s2(mem: Read64, *, ipa: int, vtcr: int, vttbr: int, access: Access,
            s1ptw: bool = False) -> Result:
    """AArch64.S2Translate / AArch64.S2Walk for the non-secure EL1&0 stage 2.

    Fault order: invalid SL/T0SZ or IPA above 2^(64-T0SZ) -> translation level 0
    (AArch64.S2InvalidSL, AArch64.IPAIsOutOfRange); VTTBR address above PS -> address size
    level 0; then the walk (translation, address size, external); access flag
    (descriptor<10> == 0, no FEAT_HAFDBS); then AArch64.S2HasPermissionsFault.
    """
    def f(kind, level, chain=()):
        return _fault(kind, level, 2, access, s1ptw=s1ptw, ipa=ipa, chain=chain)

    if not s2_config_valid(vtcr):
        return f("translation", 0)
    g = TG0_GRANULE[bits(vtcr, 15, 14)]
    inputsize = 64 - bits(vtcr, 5, 0)
    if ipa >> inputsize:                                  # AArch64.IPAIsOutOfRange
        return f("translation", 0)
    outputsize = ps_bits(bits(vtcr, 18, 16))
    level = s2_start_level(vtcr)
    # Start table base: VTTBR_EL2.BADDR<47:x>, x = log2(start table size in bytes) (the
    # concatenated tables are one naturally aligned block); lower bits are RES0 and ignored.
    x = 3 + inputsize - level_bottom(level, g)
    base = bits(vttbr, 47, x) << x
    if bits(vttbr, 47, outputsize) != 0:                  # AArch64.S2Walk: OAOutOfRange(TTB)
        return f("address_size", 0)
    ok, err = _descend(mem, ipa, inputsize=inputsize, granule_bits=g, startlevel=level,
                       base=base, outputsize=outputsize, stage=2,
                       fetch_desc=lambda lvl, a: (a, None))
    if err is not None:
        return f(err[0], err[1], err[2])
    level, desc, bottom, chain, _ = ok
    if bit(desc, 10) == 0:                                # access flag, no hardware update
        return f("access_flag", level, chain)
    # AArch64.S2HasPermissionsFault (v8.0: XN is descriptor bit 54 only).
    r, w, xn = bit(desc, 6), bit(desc, 7), bit(desc, 54)
    if s1ptw:
        fail = not r            # "Stage 1 walk is checked as a read, regardless of access type"
    elif access.is_fetch:
        fail = bool(xn)         # fetch needs only execute permission
    elif access.is_write:
        fail = not w
    else:
        fail = not r
    if fail:
        return f("permission", level, chain)
    oa = (bits(desc, 47, bottom) << bottom) | bits(ipa, bottom - 1, 0)
    return Result(pa=oa, level=level, block_size=1 << bottom, attr_index=bits(desc, 5, 2),
                  vmid=bits(vttbr, 55, 48), chain=chain,
                  perms={"s2r": r, "s2w": w, "xn": xn})


# ------------------------------------------------------------------------------------------
# Stage 1
# ------------------------------------------------------------------------------------------

def walk_s1(mem: Read64, *, va: int, regime: str, tcr: int, ttbr0: int, ttbr1: int = 0,
            sctlr: int, el: int, access: Access, pan: int = 0,
            s2: Optional[Stage2] = None) -> Result:
    """AArch64.S1Translate (+ AArch64.S2Translate of the result when ``s2`` is given).

    regime: "EL10" (TCR_EL1/TTBR0_EL1/TTBR1_EL1/SCTLR_EL1, el 0 or 1) or "EL2" (non-VHE
    TCR_EL2/TTBR0_EL2/SCTLR_EL2, el 2). Fault order follows the ASL: VA range / EPD / TnSZ
    -> level 0 translation; TTB above IPS -> level 0 address size; the walk; access flag;
    permissions (AArch64.S1HasPermissionsFault); then stage 2 of the output IPA.
    """
    if regime == REGIME_EL10:
        assert el in (0, 1)
    elif regime == REGIME_EL2:
        assert el == 2
    else:
        raise ValueError(regime)

    def f(kind, level, chain=()):
        return _fault(kind, level, 1, access, va=va, chain=chain)

    # AddrTop: top-byte-ignore (TBI applies to fetches too without FEAT_PAuth's TBID).
    if regime == REGIME_EL10:
        tbi = bit(tcr, 38) if bit(va, 55) else bit(tcr, 37)
    else:
        tbi = bit(tcr, 20)
    top = 55 if tbi else 63

    # SCTLR.M == 0: AArch64.S1DisabledOutput, flat map, OA must fit in PAMax.
    if bit(sctlr, 0) == 0:
        if bits(va, top, PAMAX) != 0:
            return f("address_size", 0)
        oa = bits(va, PAMAX - 1, 0)
        return _then_s2(mem, Result(pa=oa, level=None, chain=[]), oa, access, s2, va)

    # AArch64.GetS1TTWParams + AArch64.S1TTBR: which half of the VA space.
    if regime == REGIME_EL10:
        upper = bit(va, top)
        if upper:
            tsz, g, epd, ttbr = bits(tcr, 21, 16), TG1_GRANULE.get(bits(tcr, 31, 30)), \
                bit(tcr, 23), ttbr1
        else:
            tsz, g, epd, ttbr = bits(tcr, 5, 0), TG0_GRANULE.get(bits(tcr, 15, 14)), \
                bit(tcr, 7), ttbr0
        outputsize = ps_bits(bits(tcr, 34, 32))
        asid_ttbr = ttbr1 if bit(tcr, 22) else ttbr0           # TCR_EL1.A1
        asid = bits(asid_ttbr, 63, 48) if bit(tcr, 36) else bits(asid_ttbr, 55, 48)  # TCR.AS
    else:
        upper = 0
        tsz, g, epd, ttbr = bits(tcr, 5, 0), TG0_GRANULE.get(bits(tcr, 15, 14)), 0, ttbr0
        outputsize = ps_bits(bits(tcr, 18, 16))
        asid = None
    if g is None:
        raise ValueError("reserved TGx encoding (IMPLEMENTATION DEFINED choice, not modelled)")
    inputsize = 64 - tsz
    # RESTnSZ: Constraint_FAULT chosen for TnSZ outside [16, 39].
    if not 25 <= inputsize <= 48:
        return f("translation", 0)
    # AArch64.VAIsOutOfRange: va<top:inputsize> must be all zeros (TTBR0) / all ones (TTBR1).
    want = ((1 << (top - inputsize + 1)) - 1) if upper else 0
    if bits(va, top, inputsize) != want:
        return f("translation", 0)
    # AArch64.S1EPD: the walk for this half is disabled.
    if epd:
        return f("translation", 0)
    level = start_level_s1(inputsize, g)
    x = 3 + inputsize - level_bottom(level, g)                 # start table alignment
    base = bits(ttbr, 47, x) << x
    if bits(ttbr, 47, outputsize) != 0:                        # OAOutOfRange(TTB), level 0
        return f("address_size", 0)

    def fetch_desc(lvl, descaddr):
        if s2 is None:
            return descaddr, None
        r = walk_s2(mem, ipa=descaddr, vtcr=s2.vtcr, vttbr=s2.vttbr, access=READ, s1ptw=True)
        if r.fault is not None:
            return None, Result(fault=replace(r.fault, va=va))
        return r.pa, None

    ok, err = _descend(mem, va, inputsize=inputsize, granule_bits=g, startlevel=level,
                       base=base, outputsize=outputsize, stage=1, fetch_desc=fetch_desc)
    if err is not None:
        return _walk_fault(err, 1, access, va=va)
    level, desc, bottom, chain, (apt0, apt1, xnt, pxnt) = ok

    if bit(desc, 10) == 0:                                     # access flag, no FEAT_HAFDBS
        return f("access_flag", level, chain)

    perms = s1_permissions(desc, regime, (apt0, apt1, xnt, pxnt), wxn=bit(sctlr, 19))
    if s1_permission_fault(perms, regime=regime, el=el, access=access, pan=pan):
        return f("permission", level, chain)

    oa = (bits(desc, 47, bottom) << bottom) | bits(va, bottom - 1, 0)
    res = Result(pa=oa, level=level, block_size=1 << bottom, attr_index=bits(desc, 4, 2),
                 ng=bool(bit(desc, 11)) if regime == REGIME_EL10 else False,
                 asid=asid, chain=chain, perms=perms)
    return _then_s2(mem, res, oa, access, s2, va)


def _then_s2(mem, res: Result, oa: int, access: Access, s2: Optional[Stage2], va: int) -> Result:
    """AArch64.S1Translate's caller (AArch64.FullTranslate): the stage 1 OA is an IPA."""
    if s2 is None:
        return res
    r2 = walk_s2(mem, ipa=oa, vtcr=s2.vtcr, vttbr=s2.vttbr, access=access, s1ptw=False)
    if r2.fault is not None:
        return Result(fault=replace(r2.fault, va=va), chain=res.chain, ipa=oa)
    res.ipa = oa
    res.pa = r2.pa
    res.vmid = r2.vmid
    res.s2 = r2
    return res


def s1_permissions(desc: int, regime: str, table_attrs, *, wxn: int) -> dict:
    """Decode stage 1 permissions: AP[2:1] (desc<7:6>), PXN (desc<53>), UXN/XN (desc<54>),
    combined with APTable/PXNTable/UXNTable (hierarchical, D8.4 "Memory access control")
    and SCTLR.WXN. Mirrors the rd/wr/x computation of AArch64.S1HasPermissionsFault.

    EL1&0: AP[2]=1 read-only; AP[1]=1 EL0 accessible; APTable[1] forces read-only,
    APTable[0] forces no EL0 access. Memory writable at EL0 is always PXN; WXN makes writable
    memory XN. EL2 regime: AP[1], PXN, APTable[0] and PXNTable are RES1/RES0 (ignored);
    desc<54> is XN.
    """
    apt0, apt1, xnt, pxnt = table_attrs
    ap2 = bit(desc, 7) | apt1
    if regime == REGIME_EL2:
        w = not ap2
        xn = bool(bit(desc, 54) | xnt) or (w and bool(wxn))
        return {"priv_r": True, "priv_w": w, "priv_x": not xn,
                "user_r": False, "user_w": False, "user_x": False, "ap1": 0}
    ap1 = bit(desc, 6) & (1 - apt0)
    user_r = bool(ap1)
    user_w = bool(ap1) and not ap2
    priv_w = not ap2
    uxn = bool(bit(desc, 54) | xnt)
    pxn = bool(bit(desc, 53) | pxnt)
    user_xn = uxn or (user_w and bool(wxn))
    priv_xn = pxn or (priv_w and bool(wxn)) or user_w
    return {"priv_r": True, "priv_w": priv_w, "priv_x": not priv_xn,
            "user_r": user_r, "user_w": user_w, "user_x": not user_xn, "ap1": ap1}


def s1_permission_fault(perms: dict, *, regime: str, el: int, access: Access, pan: int) -> bool:
    """AArch64.S1HasPermissionsFault for the v8.0 + PAN subset.

    Privilege: an access at EL0, or an unprivileged (LDTR/STTR) access at EL1 in the EL1&0
    regime, uses the EL0 permissions (LDTR/STTR at EL2 behave as ordinary accesses).
    PAN (FEAT_PAN): with PSTATE.PAN=1, a privileged data access (not a fetch, not LDTR/STTR)
    to memory accessible at EL0 (AP[1] = 1 after APTable) has no read or write permission.
    Instruction fetches check only execute permission (execute-only memory exists).
    """
    priv = el != 0 and not (access.unpriv and regime == REGIME_EL10 and el == 1)
    if priv:
        r, w, x = perms["priv_r"], perms["priv_w"], perms["priv_x"]
        if regime == REGIME_EL10 and pan and perms["ap1"] and not access.is_fetch:
            r = w = False
    else:
        r, w, x = perms["user_r"], perms["user_w"], perms["user_x"]
    if access.is_fetch:
        return not x
    if access.is_write:
        return not w
    return not r
