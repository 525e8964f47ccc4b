"""The VMSAv8-64 translation system: stage 1, stage 2, the software TLB and its maintenance.

Names and structure follow the Arm ARM's translation pseudocode (DDI 0487, chapter D8, and the
shared ``aarch64/translation`` ASL): ``full_translate`` is AArch64.FullTranslate,
``s1_walk``/``s2_walk`` are AArch64.S1Walk/S2Walk with the start-level and TnSZ checks of
AArch64.S1Translate/S2Translate, ``check_permissions`` is AArch64.S1HasPermissionsFault and
AArch64.S2HasPermissionsFault.

What is implemented (and advertised in ID_AA64MMFR0_EL1): Armv8.0 VMSA with FEAT_PAN, 40-bit PA,
16-bit ASIDs, 8-bit VMIDs, 4K/16K/64K granules with every start level, concatenated stage-2
start tables, no hardware Access flag / dirty state management (AF = 0 always faults), no VHE.

Translation state is data, like everything in the core:

* A *fault word* (``F_*``) is 0 for success, else ``F_VALID`` | the fault status code
  (DFSC/IFSC encoding, level in the low two bits) | ``F_STAGE2`` | ``F_S1PTW``.
* An *info word* (``I_*``) packs what the walk found that later accesses need: the stage 1
  permissions (already combined with the hierarchical APTable/UXNTable/PXNTable and WXN), the
  stage 2 permissions, the levels and block sizes of both leaves, nG, the memory attributes.
  Permissions are checked against it on every access (``check_permissions``), so a TLB entry
  filled by a load still faults a later store correctly.
* The TLB (``layout.S_TLB``, one per PE, 2-way set associative, LRU) holds *combined* stage 1 +
  stage 2 entries for 4 KiB pieces of the input space, tagged with regime, ASID (or global)
  and VMID. Larger leaves are
  remembered by size so that TLBI by address removes every piece of a block.

Each descriptor read of a walk is counted (``layout.S_MMU_STATS``: TLB hits, misses, descriptor
reads per PE) so the benchmarks can report the two-dimensional walk cost of virtualization.
With ``rec`` set, a walk also writes every step to ``layout.S_WALK`` (see ``WR_*``): the
inspection API (``Machine.translate``) and the debugger's ``pt`` read it back.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.sysreg_table import PA_BITS
from armvirt.devices.pmu_counter import pmu_tlb_refill

# ---------------------------------------------------------------------------------------------
# Fault words
# ---------------------------------------------------------------------------------------------
F_VALID = 1 << 16
F_STAGE2 = 1 << 8
F_S1PTW = 1 << 9
F_FSC_MASK = 0x3F
# Fault status codes (ESR_ELx.ISS.DFSC/IFSC and PAR_EL1.FST), level in bits [1:0]
FSC_ADDR_SIZE = 0x00
FSC_TRANSLATION = 0x04
FSC_ACCESS_FLAG = 0x08
FSC_PERMISSION = 0x0C
FSC_EXTERNAL = 0x10
FSC_EXTERNAL_WALK = 0x14
FSC_ALIGNMENT = 0x21

# ---------------------------------------------------------------------------------------------
# Info words
# ---------------------------------------------------------------------------------------------
I_S1 = 1 << 0            # stage 1 was enabled
I_PRIV_W = 1 << 1        # stage 1 permissions, privileged (EL1 in EL1&0, EL2 in EL2)
I_PRIV_X = 1 << 2
I_USER_R = 1 << 3        # ... and for EL0 / unprivileged accesses
I_USER_W = 1 << 4
I_USER_X = 1 << 5
I_AP1 = 1 << 6           # AP[1] after APTable[0]: EL0-accessible, which PSTATE.PAN looks at
I_NG = 1 << 7            # not global: the entry belongs to one ASID
I_ATTRINDX_SHIFT = 8     # 3 bits: MAIR index
I_S1LEVEL_SHIFT = 11     # 2 bits
I_S1BLOCK_SHIFT = 13     # 6 bits: log2 of the leaf's size
I_S2 = 1 << 19           # stage 2 was enabled
I_S2R = 1 << 20          # S2AP[0]
I_S2W = 1 << 21          # S2AP[1]
I_S2X = 1 << 22          # not XN
I_S2MEMATTR_SHIFT = 23   # 4 bits: stage 2 MemAttr[3:0]
I_S2LEVEL_SHIFT = 27     # 2 bits
I_S2BLOCK_SHIFT = 29     # 6 bits
I_DEVICE = 1 << 35       # the combined memory type is Device
I_ATTR_SHIFT = 36        # 8 bits: the MAIR attribute byte (PAR_EL1.ATTR)
I_SH_SHIFT = 44          # 2 bits: stage 1 shareability SH[1:0] (PAR_EL1.SH)
I_S1_DEVICE = 1 << 46    # stage 1 (or stage 1 off) made it Device; without it, stage 2 did

# The access-descriptor bits a walk looks at (the ``acc`` argument; armvirt.cpu.memory adds
# the ones for alignment and syndromes on top)
ACC_WRITE = 1 << 0
ACC_UNPRIV = 1 << 1     # LDTR/STTR: checked as EL0 when executed at EL1
ACC_CM = 1 << 4         # cache maintenance (DC ...): ESR.CM = 1
ACC_FETCH = 1 << 5      # instruction fetch

# Regimes
REGIME_EL10 = 1
REGIME_EL2 = 2

# TLB entry columns and context bits
TE_VPAGE = 0     # input address >> 12 (after top-byte-ignore)
TE_CTX = 1       # CTX_* | ASID << 8 | VMID << 24; 0 = invalid
TE_PA = 2        # output address of the 4 KiB piece
TE_INFO = 3      # info word
TE_IPA = 4       # intermediate physical address of the piece (stage 2 entries)
CTX_VALID = 1 << 0
CTX_EL2 = 1 << 1
CTX_S1 = 1 << 2
CTX_S2 = 1 << 3
CTX_GLOBAL = 1 << 4
CTX_ASID_SHIFT = 8
CTX_VMID_SHIFT = 24
CTX_ASID_MASK = 0xFFFF << CTX_ASID_SHIFT
TLB_WAYS = 2
TLB_SET_MASK = L.TLB_ENTRIES // TLB_WAYS - 1

# Statistics columns (per PE, layout.S_MMU_STATS)
ST_HITS = 0
ST_MISSES = 1
ST_DESC_READS = 2
ST_WIDTH = 4

# Walk record (layout.S_WALK), written when ``rec`` is set
WR_N = 0            # number of steps
WR_FAULT = 1        # fault word (0: success)
WR_PA = 2
WR_IPA = 3          # stage 1 output (when stage 2 follows), or the faulting IPA
WR_INFO = 4
WR_VA = 5           # the input address, after top-byte-ignore
WR_STEPS = 8
WR_STEP_WIDTH = 4   # kind, input address, descriptor PA, descriptor value
WR_MAX_STEPS = (L.WALK_SIZE - WR_STEPS) // WR_STEP_WIDTH
STEP_STAGE2 = 1 << 4       # kind = level | STEP_STAGE2 | STEP_S1PTW | STEP_NOREAD
STEP_S1PTW = 1 << 5
STEP_EXTERNAL = 1 << 6     # the descriptor address answered nothing (external abort)

PA_LIMIT = 1 << PA_BITS

# Register fields
SCTLR_M = 1 << 0
SCTLR_WXN = 1 << 19
HCR_VM = 1 << 0
HCR_DC = 1 << 12
HCR_TGE = 1 << 27
MASK48 = (1 << 48) - 1


# ---------------------------------------------------------------------------------------------
# Small decoders
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def tg0_granule(tg):
    """TCR_ELx.TG0 / VTCR_EL2.TG0 → log2(granule). 0b11 is reserved; treated as 4 KiB (an
    IMPLEMENTATION DEFINED choice the Arm ARM allows: "as if an implemented size")."""
    if tg == 1:
        return 16
    if tg == 2:
        return 14
    return 12


@njit(cache=True, inline="always")
def tg1_granule(tg):
    """TCR_EL1.TG1 → log2(granule); 0b00 reserved, treated as 4 KiB."""
    if tg == 1:
        return 14
    if tg == 3:
        return 16
    return 12


@njit(cache=True, inline="always")
def ps_bits(ps):
    """IPS / PS / VTCR.PS → output address size, capped at the implemented PA size."""
    if ps == 0:
        n = 32
    elif ps == 1:
        n = 36
    elif ps == 2:
        n = 40
    elif ps == 3:
        n = 42
    elif ps == 4:
        n = 44
    elif ps == 5:
        n = 48
    else:
        n = 52
    return n if n < PA_BITS else PA_BITS


@njit(cache=True, inline="always")
def level_bottom(level, g):
    """The lowest input-address bit a level resolves: (3 - level) * (g - 3) + g."""
    return (3 - level) * (g - 3) + g


@njit(cache=True, inline="always")
def first_block_level(g):
    """AArch64.BlockDescSupported without FEAT_LPA: 1 GiB blocks at level 1 for 4K; the
    largest block is at level 2 for 16K (32 MiB) and 64K (512 MiB)."""
    return 1 if g == 12 else 2


@njit(cache=True, inline="always")
def oa_out_of_range(desc, outputsize):
    """AArch64.OAOutOfRange for a descriptor's address field desc<47:outputsize>."""
    return outputsize < 48 and ((desc & MASK48) >> outputsize) != 0


@njit(cache=True, inline="always")
def fault_word(fsc, level, stage2, s1ptw):
    f = F_VALID | fsc | level
    if stage2:
        f |= F_STAGE2
    if s1ptw:
        f |= F_S1PTW
    return f


@njit(cache=True, inline="always")
def mair_is_device(attr):
    """A MAIR_ELx attribute byte with Attr<7:4> = 0000 is Device memory."""
    return (attr & 0xF0) == 0


@njit(cache=True)
def _record(M, kind, inaddr, descpa, value, rec):
    if not rec:
        return
    S = M[L.M_MACH]
    n = S[L.S_WALK + WR_N]
    if n < WR_MAX_STEPS:
        r = L.S_WALK + WR_STEPS + n * WR_STEP_WIDTH
        S[r] = kind
        S[r + 1] = inaddr
        S[r + 2] = descpa
        S[r + 3] = value
        S[L.S_WALK + WR_N] = n + 1


@njit(cache=True, inline="always")
def read_descriptor(c, M, pa, rec):
    """A 64-bit little-endian descriptor read from RAM (ok, value). Descriptors are read with
    the walk's own (physical) access: anywhere outside RAM nothing answers, which the walk
    reports as a synchronous external abort on a translation table walk. Costs the profile's
    COST_DESC_READ, except in a walk the debugger inspects (``rec``)."""
    S = M[L.M_MACH]
    S[L.S_MMU_STATS + c[L.PE_INDEX] * ST_WIDTH + ST_DESC_READS] += 1
    if not rec:
        c[L.CYCLES] += S[L.S_COST + L.COST_DESC_READ]
    off = pa - memmap.RAM_BASE
    if off < 0 or off + 8 > S[L.RAM_BYTES]:   # RAM only (the arrays may hold flash after it)
        return False, 0
    return True, M[L.M_RAM64][off >> 3]


# ---------------------------------------------------------------------------------------------
# Stage 2
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def s2_start_level(vtcr):
    """AArch64.S2StartLevel from VTCR_EL2.SL0 (-1 for the reserved SL0 = 0b11)."""
    sl0 = (vtcr >> 6) & 3
    if sl0 == 3:
        return -1
    g = tg0_granule((vtcr >> 14) & 3)
    return 2 - sl0 if g == 12 else 3 - sl0


@njit(cache=True)
def s2_config_valid(vtcr):
    """The VTCR_EL2 checks that make every stage 2 walk a level 0 Translation fault:
    T0SZ out of range (RESTnSZ, Constraint_FAULT), an input size above the PA size
    (AArch64.IPAIsOutOfRange / LARGEIPA), AArch64.S2InvalidSL and AArch64.S2InconsistentSL."""
    g = tg0_granule((vtcr >> 14) & 3)
    inputsize = 64 - (vtcr & 0x3F)
    if inputsize < 25 or inputsize > 48 or inputsize > PA_BITS:
        return False
    level = s2_start_level(vtcr)
    if level < 0:
        return False
    if g == 12 and level == 0 and PA_BITS <= 42:
        return False
    if g == 14 and (level == 0 or (level == 1 and PA_BITS <= 40)):
        return False
    if g == 16 and (level == 0 or (level == 1 and PA_BITS <= 42)):
        return False
    startsizecheck = inputsize - level_bottom(level, g)
    return 1 <= startsizecheck <= (g - 3) + 4


@njit(cache=True)
def s2_walk(c, M, ipa, s1ptw, rec):
    """AArch64.S2Walk for the EL1&0 stage 2 (VTTBR_EL2, VTCR_EL2), up to and including the
    Access flag check. Returns (fault, oa, info-bits for stage 2). When ``s1ptw`` is set this is
    the translation of a stage 1 descriptor address and also checks read permission ("a stage 1
    walk is a read, whatever the access").
    """
    vtcr = c[SR.VTCR_EL2]
    vttbr = c[SR.VTTBR_EL2]
    if not s2_config_valid(vtcr):
        return fault_word(FSC_TRANSLATION, 0, True, s1ptw), 0, 0
    g = tg0_granule((vtcr >> 14) & 3)
    inputsize = 64 - (vtcr & 0x3F)
    if (ipa >> inputsize) != 0:                     # AArch64.IPAIsOutOfRange
        return fault_word(FSC_TRANSLATION, 0, True, s1ptw), 0, 0
    outputsize = ps_bits((vtcr >> 16) & 7)
    level = s2_start_level(vtcr)
    x = 3 + inputsize - level_bottom(level, g)      # log2 of the (concatenated) start table
    if oa_out_of_range(vttbr, outputsize):
        return fault_word(FSC_ADDR_SIZE, 0, True, s1ptw), 0, 0
    base = ((vttbr & MASK48) >> x) << x
    top = inputsize - 1
    kind0 = STEP_STAGE2 | (STEP_S1PTW if s1ptw else 0)
    while True:
        bottom = level_bottom(level, g)
        idx = (ipa >> bottom) & ((1 << (top - bottom + 1)) - 1)
        descaddr = base | (idx << 3)
        ok, desc = read_descriptor(c, M, descaddr, rec)
        if not ok:
            _record(M, kind0 | level | STEP_EXTERNAL, ipa, descaddr, 0, rec)
            return fault_word(FSC_EXTERNAL_WALK, level, True, s1ptw), 0, 0
        _record(M, kind0 | level, ipa, descaddr, desc, rec)
        if (desc & 1) == 0 or ((desc & 3) == 1 and level == 3):
            return fault_word(FSC_TRANSLATION, level, True, s1ptw), 0, 0
        if (desc & 3) == 1 or level == 3:
            break
        if oa_out_of_range(desc, outputsize):
            return fault_word(FSC_ADDR_SIZE, level, True, s1ptw), 0, 0
        base = ((desc & MASK48) >> g) << g
        level += 1
        top = bottom - 1
    if level < first_block_level(g):
        return fault_word(FSC_TRANSLATION, level, True, s1ptw), 0, 0
    if oa_out_of_range(desc, outputsize):
        return fault_word(FSC_ADDR_SIZE, level, True, s1ptw), 0, 0
    if ((desc >> 10) & 1) == 0:
        return fault_word(FSC_ACCESS_FLAG, level, True, s1ptw), 0, 0
    info = I_S2 | (((desc >> 2) & 0xF) << I_S2MEMATTR_SHIFT) | (level << I_S2LEVEL_SHIFT) \
        | (bottom << I_S2BLOCK_SHIFT)
    if (desc >> 6) & 1:
        info |= I_S2R
    if (desc >> 7) & 1:
        info |= I_S2W
    if ((desc >> 54) & 1) == 0:
        info |= I_S2X
    if s1ptw and not (info & I_S2R):
        return fault_word(FSC_PERMISSION, level, True, True), 0, 0
    oa = (((desc & MASK48) >> bottom) << bottom) | (ipa & ((1 << bottom) - 1))
    return 0, oa, info


# ---------------------------------------------------------------------------------------------
# Stage 1
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def addr_top(c, va, regime):
    """AArch64.AddrTop: 55 when top-byte-ignore applies to this address, else 63
    (TCR_EL1.TBI0/TBI1 by VA bit 55, TCR_EL2.TBI)."""
    if regime == REGIME_EL2:
        tbi = (c[SR.TCR_EL2] >> 20) & 1
    elif (va >> 55) & 1:
        tbi = (c[SR.TCR_EL1] >> 38) & 1
    else:
        tbi = (c[SR.TCR_EL1] >> 37) & 1
    return 55 if tbi else 63


@njit(cache=True, inline="always")
def strip_tag(va, top):
    """The address a walk translates: with TBI the top byte is replaced by copies of bit 55."""
    if top == 55:
        return (va << 8) >> 8
    return va


@njit(cache=True)
def current_asid(c):
    """The ASID of the EL1&0 regime: TTBR0/TTBR1_EL1.ASID by TCR_EL1.A1, 8 or 16 bits by AS."""
    tcr = c[SR.TCR_EL1]
    ttbr = c[SR.TTBR1_EL1] if (tcr >> 22) & 1 else c[SR.TTBR0_EL1]
    asid = (ttbr >> 48) & 0xFFFF
    if ((tcr >> 36) & 1) == 0:
        asid &= 0xFF
    return asid


@njit(cache=True, inline="always")
def current_vmid(c):
    return (c[SR.VTTBR_EL2] >> 48) & 0xFF


@njit(cache=True)
def s1_walk(c, M, va, regime, s2on, rec):
    """AArch64.S1Translate's walk part for an enabled stage 1 (``va`` already has its tag
    stripped): the VA range, EPDn and TnSZ checks, AArch64.S1Walk with every descriptor address
    translated by stage 2 when it is on (faults there are stage 2 faults with S1PTW = 1), the
    Access flag, then the permission and attribute decode. Returns (fault, ipa, info).
    Permissions are *not* checked here (``check_permissions`` does that for each access)."""
    if regime == REGIME_EL2:
        tcr = c[SR.TCR_EL2]
        upper = False
        tsz = tcr & 0x3F
        g = tg0_granule((tcr >> 14) & 3)
        epd = 0
        ttbr = c[SR.TTBR0_EL2]
        outputsize = ps_bits((tcr >> 16) & 7)
        top = 55 if (tcr >> 20) & 1 else 63
    else:
        tcr = c[SR.TCR_EL1]
        upper = ((va >> 55) & 1) == 1
        if upper:
            tsz = (tcr >> 16) & 0x3F
            g = tg1_granule((tcr >> 30) & 3)
            epd = (tcr >> 23) & 1
            ttbr = c[SR.TTBR1_EL1]
            top = 55 if (tcr >> 38) & 1 else 63
        else:
            tsz = tcr & 0x3F
            g = tg0_granule((tcr >> 14) & 3)
            epd = (tcr >> 7) & 1
            ttbr = c[SR.TTBR0_EL1]
            top = 55 if (tcr >> 37) & 1 else 63
        outputsize = ps_bits((tcr >> 32) & 7)
    inputsize = 64 - tsz
    if inputsize < 25 or inputsize > 48:             # RESTnSZ: Constraint_FAULT
        return fault_word(FSC_TRANSLATION, 0, False, False), 0, 0
    # AArch64.VAIsOutOfRange: va<top:inputsize> all zeros (TTBR0) or all ones (TTBR1).
    hi = (va >> inputsize) & ((1 << (top - inputsize + 1)) - 1)
    want = ((1 << (top - inputsize + 1)) - 1) if upper else 0
    if hi != want or epd:
        return fault_word(FSC_TRANSLATION, 0, False, False), 0, 0
    level = 4 - (1 + (inputsize - g - 1) // (g - 3))   # AArch64.S1StartLevel
    x = 3 + inputsize - level_bottom(level, g)
    if oa_out_of_range(ttbr, outputsize):
        return fault_word(FSC_ADDR_SIZE, 0, False, False), 0, 0
    base = ((ttbr & MASK48) >> x) << x
    top = inputsize - 1
    apt0 = 0
    apt1 = 0
    xnt = 0
    pxnt = 0
    while True:
        bottom = level_bottom(level, g)
        idx = (va >> bottom) & ((1 << (top - bottom + 1)) - 1)
        descaddr = base | (idx << 3)
        pa = descaddr
        if s2on:
            f2, pa, _ = s2_walk(c, M, descaddr, True, rec)
            if f2:
                return f2, descaddr, 0
        ok, desc = read_descriptor(c, M, pa, rec)
        if not ok:
            _record(M, level | STEP_EXTERNAL, va, pa, 0, rec)
            return fault_word(FSC_EXTERNAL_WALK, level, False, False), 0, 0
        _record(M, level, va, pa, desc, rec)
        if (desc & 1) == 0 or ((desc & 3) == 1 and level == 3):
            return fault_word(FSC_TRANSLATION, level, False, False), 0, 0
        if (desc & 3) == 1 or level == 3:
            break
        if oa_out_of_range(desc, outputsize):
            return fault_word(FSC_ADDR_SIZE, level, False, False), 0, 0
        base = ((desc & MASK48) >> g) << g
        pxnt |= (desc >> 59) & 1
        xnt |= (desc >> 60) & 1
        apt0 |= (desc >> 61) & 1
        apt1 |= (desc >> 62) & 1
        level += 1
        top = bottom - 1
    if level < first_block_level(g):
        return fault_word(FSC_TRANSLATION, level, False, False), 0, 0
    if oa_out_of_range(desc, outputsize):
        return fault_word(FSC_ADDR_SIZE, level, False, False), 0, 0
    if ((desc >> 10) & 1) == 0:
        return fault_word(FSC_ACCESS_FLAG, level, False, False), 0, 0
    info = s1_info(c, desc, regime, apt0, apt1, xnt, pxnt) \
        | (level << I_S1LEVEL_SHIFT) | (bottom << I_S1BLOCK_SHIFT)
    oa = (((desc & MASK48) >> bottom) << bottom) | (va & ((1 << bottom) - 1))
    return 0, oa, info


@njit(cache=True)
def s1_info(c, desc, regime, apt0, apt1, xnt, pxnt):
    """Decode a stage 1 leaf's permissions and attributes (D8.4 "Memory access control"):
    AP[2:1] = desc<7:6>, PXN = desc<53>, UXN/XN = desc<54>, combined with APTable, PXNTable,
    UXNTable and SCTLR_ELx.WXN the way AArch64.S1HasPermissionsFault computes them. In the
    EL2 regime AP[1], PXN and the EL0 permissions do not exist."""
    attrindx = (desc >> 2) & 7
    if regime == REGIME_EL2:
        sctlr = c[SR.SCTLR_EL2]
        mair = c[SR.MAIR_EL2]
    else:
        sctlr = c[SR.SCTLR_EL1]
        mair = c[SR.MAIR_EL1]
    wxn = (sctlr & SCTLR_WXN) != 0
    attr = (mair >> (8 * attrindx)) & 0xFF
    info = I_S1 | (attrindx << I_ATTRINDX_SHIFT) | (attr << I_ATTR_SHIFT) \
        | (((desc >> 8) & 3) << I_SH_SHIFT)
    if mair_is_device(attr):
        info |= I_DEVICE | I_S1_DEVICE
    ap2 = ((desc >> 7) & 1) | apt1
    priv_w = ap2 == 0
    if regime == REGIME_EL2:
        xn = ((desc >> 54) & 1) | xnt
        if priv_w:
            info |= I_PRIV_W
        if not (xn or (priv_w and wxn)):
            info |= I_PRIV_X
        return info
    ap1 = ((desc >> 6) & 1) & (1 - apt0)
    user_w = ap1 == 1 and ap2 == 0
    uxn = (((desc >> 54) & 1) | xnt) == 1
    pxn = (((desc >> 53) & 1) | pxnt) == 1
    if ((desc >> 11) & 1) == 1:
        info |= I_NG
    if ap1:
        info |= I_AP1 | I_USER_R
    if user_w:
        info |= I_USER_W
    if priv_w:
        info |= I_PRIV_W
    if not (uxn or (user_w and wxn)):
        info |= I_USER_X
    if not (pxn or (priv_w and wxn) or user_w):
        info |= I_PRIV_X
    return info


# ---------------------------------------------------------------------------------------------
# Permissions
# ---------------------------------------------------------------------------------------------
@njit(cache=True)
def check_permissions(info, acc, el, regime, pan):
    """AArch64.S1HasPermissionsFault then AArch64.S2HasPermissionsFault for one access.
    Returns 0 or the fault word of a Permission fault at the leaf's level.

    An access at EL0, or an unprivileged (LDTR/STTR) one at EL1 in the EL1&0 regime, uses the
    EL0 permissions. PSTATE.PAN = 1 denies privileged data accesses to EL0-accessible memory.
    Instruction fetches need only execute permission; cache maintenance needs read permission
    (write permission for DC IVAC, which the caller marks as a write)."""
    if info & I_S1:
        priv = el != 0 and not ((acc & ACC_UNPRIV) and regime == REGIME_EL10 and el == 1)
        if acc & ACC_FETCH:
            ok = (info & (I_PRIV_X if priv else I_USER_X)) != 0
        elif priv:
            panned = pan and regime == REGIME_EL10 and (info & I_AP1) and not (acc & ACC_UNPRIV)
            ok = (not panned) and ((acc & ACC_WRITE) == 0 or (info & I_PRIV_W) != 0)
        elif acc & ACC_WRITE:
            ok = (info & I_USER_W) != 0
        else:
            ok = (info & I_USER_R) != 0
        if not ok:
            return fault_word(FSC_PERMISSION, (info >> I_S1LEVEL_SHIFT) & 3, False, False)
    if info & I_S2:
        if acc & ACC_FETCH:
            ok = (info & I_S2X) != 0
        elif acc & ACC_WRITE:
            ok = (info & I_S2W) != 0
        else:
            ok = (info & I_S2R) != 0
        if not ok:
            return fault_word(FSC_PERMISSION, (info >> I_S2LEVEL_SHIFT) & 3, True, False)
    return 0


@njit(cache=True, inline="always")
def alignment_fault(info):
    """The Alignment fault of an unaligned access to Device memory, at the stage whose
    attributes made it Device (AArch64.S1HasAlignmentFault / S2HasAlignmentFault)."""
    return F_VALID | FSC_ALIGNMENT | (0 if info & I_S1_DEVICE else F_STAGE2)


# ---------------------------------------------------------------------------------------------
# The whole translation
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def regime_controls(c, el):
    """(regime, stage 1 enabled, stage 2 enabled) for an access from ``el``.
    HCR_EL2.DC and TGE make SCTLR_EL1.M behave as 0; DC makes HCR_EL2.VM behave as 1."""
    if el == 2:
        return REGIME_EL2, (c[SR.SCTLR_EL2] & SCTLR_M) != 0, False
    hcr = c[SR.HCR_EL2]
    s1 = (c[SR.SCTLR_EL1] & SCTLR_M) != 0 and (hcr & (HCR_DC | HCR_TGE)) == 0
    return REGIME_EL10, s1, (hcr & (HCR_VM | HCR_DC)) != 0


@njit(cache=True)
def s1_off_info(c, acc, regime):
    """Attributes of AArch64.S1DisabledOutput: data accesses are Device-nGnRnE, instruction
    fetches Normal; with HCR_EL2.DC = 1 (EL1&0) everything is Normal Write-Back."""
    if regime == REGIME_EL10 and (c[SR.HCR_EL2] & HCR_DC):
        return 0xFF << I_ATTR_SHIFT   # Normal Write-Back, Non-shareable
    if acc & ACC_FETCH:
        return (0x44 << I_ATTR_SHIFT) | (2 << I_SH_SHIFT)   # Normal Non-cacheable
    return I_DEVICE | I_S1_DEVICE | (2 << I_SH_SHIFT)       # Device-nGnRnE


@njit(cache=True)
def full_translate(c, M, va, acc, el, regime, s1on, s2on, final_s2, pan, rec):
    """AArch64.FullTranslate for an address whose tag is already stripped: stage 1 (walk,
    permissions), then stage 2 of the output IPA. Returns (fault, pa, ipa, info). On a fault
    ``ipa`` is the faulting IPA for stage 2 faults (HPFAR_EL2)."""
    if rec:
        S = M[L.M_MACH]
        S[L.S_WALK + WR_N] = 0
        S[L.S_WALK + WR_VA] = va
    if s1on:
        f, ipa, info = s1_walk(c, M, va, regime, s2on, rec)
        if f:
            return f, 0, ipa, 0
        f = check_permissions(info, acc, el, regime, pan)
        if f:
            return f, 0, ipa, info
    else:
        # AArch64.S1DisabledOutput: the VA must fit the PA size (an Address size fault).
        if va < 0 or va >= PA_LIMIT:
            return fault_word(FSC_ADDR_SIZE, 0, False, False), 0, 0, 0
        ipa = va
        info = s1_off_info(c, acc, regime)
    if not (s2on and final_s2):
        return 0, ipa, ipa, info
    f, pa, info2 = s2_walk(c, M, ipa, False, rec)
    if f:
        return f, 0, ipa, info
    memattr = (info2 >> I_S2MEMATTR_SHIFT) & 0xF
    if (memattr >> 2) == 0:        # stage 2 Device: the combined type is Device
        info2 |= I_DEVICE
    info |= info2
    f = check_permissions(info & ~(I_S1 | I_DEVICE), acc, el, regime, 0)
    if f:
        return f, 0, ipa, info
    return 0, pa, ipa, info


# ---------------------------------------------------------------------------------------------
# TLB
# ---------------------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def tlb_base(pe):
    return L.S_TLB + pe * L.TLB_PE_SIZE


@njit(cache=True, inline="always")
def tlb_set(vpage, vmid):
    """Offset of the 2-way set for an input page. The ASID is not hashed in, so that a global
    entry is found from every ASID (kernel mappings shared by all processes). Neighbouring
    pages go to neighbouring sets; higher bits are folded in so that, say, 0x4000_0000 and
    0x8000_0000 do not collide."""
    h = vpage ^ (vpage >> 9) ^ (vpage >> 18) ^ (vpage >> 27) ^ (vmid * 0x45)
    return (h & TLB_SET_MASK) * (TLB_WAYS * L.TLB_WIDTH)


@njit(cache=True, inline="always")
def tlb_context(c, regime, s1on, s2on):
    """(context bits without ASID, ASID) that tag the current regime's entries."""
    if regime == REGIME_EL2:
        return CTX_VALID | CTX_EL2 | (CTX_S1 if s1on else 0), 0
    ctx = CTX_VALID | (current_vmid(c) << CTX_VMID_SHIFT)
    if s1on:
        ctx |= CTX_S1
    if s2on:
        ctx |= CTX_S2
    return ctx, (current_asid(c) if s1on else 0)


@njit(cache=True)
def translate_mmu(c, M, va, acc, el, regime, s1on, s2on):
    """An access through the enabled MMU: TLB lookup, else the walk and a TLB fill.
    Returns (fault, pa, ipa, info) like ``full_translate``; ``va`` is the address as issued
    (the tag is stripped here)."""
    S = M[L.M_MACH]
    va = strip_tag(va, addr_top(c, va, regime))
    vpage = va >> 12
    ctx, asid = tlb_context(c, regime, s1on, s2on)
    vmid = (ctx >> CTX_VMID_SHIFT) & 0xFF
    stats = L.S_MMU_STATS + c[L.PE_INDEX] * ST_WIDTH
    e = tlb_base(c[L.PE_INDEX]) + tlb_set(vpage, vmid)
    want = ctx | (asid << CTX_ASID_SHIFT)
    glob = ctx | CTX_GLOBAL
    for way in range(TLB_WAYS):
        w = e + way * L.TLB_WIDTH
        if S[w + TE_VPAGE] == vpage and (S[w + TE_CTX] == want or S[w + TE_CTX] == glob):
            if way:                                   # keep the set in LRU order
                for k in range(L.TLB_WIDTH):
                    t = S[e + k]
                    S[e + k] = S[w + k]
                    S[w + k] = t
            S[stats + ST_HITS] += 1
            info = S[e + TE_INFO]
            f = check_permissions(info, acc, el, regime, c[L.PSTATE_PAN])
            off = va & 0xFFF
            return f, S[e + TE_PA] | off, S[e + TE_IPA] | off, info
    S[stats + ST_MISSES] += 1
    f, pa, ipa, info = full_translate(c, M, va, acc, el, regime, s1on, s2on, True,
                                      c[L.PSTATE_PAN], False)
    if f == 0:
        for k in range(L.TLB_WIDTH):                  # the least recently used way goes
            S[e + L.TLB_WIDTH + k] = S[e + k]
        S[e + TE_VPAGE] = vpage
        if regime == REGIME_EL10 and s1on and (info & I_NG) == 0:
            S[e + TE_CTX] = glob
        else:
            S[e + TE_CTX] = want
        S[e + TE_PA] = pa & ~0xFFF
        S[e + TE_IPA] = ipa & ~0xFFF
        S[e + TE_INFO] = info
        if not (acc & ACC_FETCH):
            pmu_tlb_refill(c, M)   # the PMU's L1D_TLB_REFILL (nothing unless it is counted)
    return f, pa, ipa, info


# TLBI scopes (what an operation matches; armvirt.exec.system decodes the instruction)
TLBI_ALL_EL10 = 0        # ALLE1: every EL1&0 entry, any VMID
TLBI_VMID = 1            # VMALLE1 / VMALLS12E1: every EL1&0 entry of the current VMID
TLBI_ASID = 2            # ASIDE1: non-global entries of an ASID, current VMID
TLBI_VA = 3              # VAE1 / VALE1: a VA for an ASID (and global entries), current VMID
TLBI_VAA = 4             # VAAE1 / VAALE1: a VA for every ASID, current VMID
TLBI_ALL_EL2 = 5         # ALLE2
TLBI_VA_EL2 = 6          # VAE2 / VALE2
TLBI_IPA = 7             # IPAS2E1 / IPAS2LE1: an IPA, current VMID


@njit(cache=True)
def tlb_invalidate(M, pe, scope, vmid, asid, page):
    """Remove the entries of PE ``pe``'s TLB that an operation of ``scope`` covers.
    ``page`` is an input address >> 12 (VA, sign-extended from bit 55, or IPA).

    Over-invalidation is allowed by the architecture (a TLB may drop any entry at any time),
    under-invalidation is not: the last-level-only forms (VALE1, IPAS2LE1, ...) are treated as
    their all-levels twins, since only leaf entries are cached. IPAS2E1 also drops the combined
    entries that went through that IPA (the architecture requires software to follow it with a
    VMALLE1 for those, so dropping them early changes nothing a correct guest can observe)."""
    S = M[L.M_MACH]
    base = tlb_base(pe)
    for i in range(L.TLB_ENTRIES):
        e = base + i * L.TLB_WIDTH
        ctx = S[e + TE_CTX]
        if ctx == 0:
            continue
        el2 = (ctx & CTX_EL2) != 0
        if scope == TLBI_ALL_EL2 or scope == TLBI_VA_EL2:
            if not el2:
                continue
            if scope == TLBI_VA_EL2:
                sh = ((S[e + TE_INFO] >> I_S1BLOCK_SHIFT) & 0x3F) - 12
                if sh < 0 or (S[e + TE_VPAGE] >> sh) != (page >> sh):
                    continue
            S[e + TE_CTX] = 0
            continue
        if el2:
            continue
        if scope != TLBI_ALL_EL10 and ((ctx >> CTX_VMID_SHIFT) & 0xFF) != vmid:
            continue
        if scope == TLBI_ASID:
            if (ctx & CTX_GLOBAL) or ((ctx >> CTX_ASID_SHIFT) & 0xFFFF) != asid:
                continue
        elif scope == TLBI_VA or scope == TLBI_VAA:
            if scope == TLBI_VA and not (ctx & CTX_GLOBAL) and \
                    ((ctx >> CTX_ASID_SHIFT) & 0xFFFF) != asid:
                continue
            info = S[e + TE_INFO]
            if info & I_S1:
                sh = ((info >> I_S1BLOCK_SHIFT) & 0x3F) - 12
            else:
                sh = ((info >> I_S2BLOCK_SHIFT) & 0x3F) - 12
            if sh < 0:
                sh = 0
            if (S[e + TE_VPAGE] >> sh) != (page >> sh):
                continue
        elif scope == TLBI_IPA:
            info = S[e + TE_INFO]
            if not (info & I_S2):
                continue
            sh = ((info >> I_S2BLOCK_SHIFT) & 0x3F) - 12
            if sh < 0:
                sh = 0
            if ((S[e + TE_IPA] >> 12) >> sh) != (page >> sh):
                continue
        S[e + TE_CTX] = 0


@njit(cache=True)
def tlb_flush_all(M, pe):
    """Forget every entry of a PE's TLB (reset, snapshot restore)."""
    S = M[L.M_MACH]
    base = tlb_base(pe)
    for i in range(L.TLB_ENTRIES):
        S[base + i * L.TLB_WIDTH + TE_CTX] = 0


@njit(cache=True)
def inspect(c, M, va, acc, el, regime, s1on, s2on, final_s2, pan):
    """A side-effect-free walk for the debugger and the inspection API: no TLB lookup or fill,
    no exception; every step recorded in ``S_WALK``. Returns the fault word."""
    S = M[L.M_MACH]
    if s1on:
        va = strip_tag(va, addr_top(c, va, regime))
    f, pa, ipa, info = full_translate(c, M, va, acc, el, regime, s1on, s2on, final_s2, pan,
                                      True)
    S[L.S_WALK + WR_FAULT] = f
    S[L.S_WALK + WR_PA] = pa
    S[L.S_WALK + WR_IPA] = ipa
    S[L.S_WALK + WR_INFO] = info
    return f


@njit(cache=True)
def inspect_el(c, M, va, acc, el, final_s2, pan):
    """``inspect`` with the regime and stage enables of an access from ``el``. Returns the
    fault word and which stages applied (bit 0: stage 1, bit 1: stage 2)."""
    regime, s1on, s2on = regime_controls(c, el)
    f = inspect(c, M, va, acc, el, regime, s1on, s2on, final_s2, pan)
    return f, (1 if s1on else 0) | (2 if (s2on and final_s2) else 0)
