"""The PMU's counters, counted lazily (Arm ARM D13 "The Performance Monitors Extension"):
PMCCNTR_EL0, the cycle counter, and the event counters PMEVCNTR<n>_EL0 counting CPU_CYCLES
(event 0x11), INST_RETIRED (0x08), MEM_ACCESS (0x13), BR_RETIRED (0x21), L1D_TLB_REFILL (0x05),
EXC_TAKEN (0x09), EXC_RETURN (0x0A), SW_INCR (0x00, by PMSWINC_EL0 writes) or, on an odd
counter, CHAIN (0x1E: one per overflow of the even counter below it, so that the pair is one
64-bit count).

Each counter is kept as a value (its system-register slot) plus the cycle and instruction
counts it was last brought up to date at (``c[PMU_LAST]``, and ``S_PMU``). Whether a counter
counts depends on the enables (PMCR_EL0.E, or MDCR_EL2.HPME for the event counters at or above
MDCR_EL2.HPMN, which belong to EL2), PMCNTENSET_EL0 and, through its filter (PMCCFILTR_EL0 or
PMEVTYPER<n>_EL0), on the EL the PE runs at; so the counters are brought up to date
(``pmu_sync``) before anything that changes one of those: every PMU register access and every
exception entry and return (``pmu_switch_el``, called by armvirt.cpu.exceptions). Between
those points counting is a subtraction, never a per-instruction cost.

MEM_ACCESS, BR_RETIRED and L1D_TLB_REFILL are *hooked* events: counted where they happen, and
only while some event counter counts them at the current EL (``P_ATTN + h``, recomputed by
``pmu_deadline`` after every PMU register write and EL change; 0 = not counted, the test the
hooks make). MEM_ACCESS by the memory layer (armvirt.cpu.memory): while it is counted no data
page is entered in the one-page caches, so every access takes the slow path, which calls
``pmu_mem_access`` (one per access the core makes: an LDP is two, each element of a SIMD&FP
structure access one). BR_RETIRED by the branch handlers (armvirt.exec.branch:
``pmu_br_retired``, one load and branch per branch when not counted) and by ERET. L1D_TLB_REFILL
by the TLB's miss path (armvirt.cpu.mmu: a data access whose walk filled the TLB).

EXC_TAKEN and EXC_RETURN are counted directly at exception entry and return
(``pmu_switch_el``), which already bring the counters up to date. Both are attributed to the EL
the exception is taken from / the ERET executes at (the EL the PE leaves), like every other
event of the instruction that causes them.

This module depends on nothing but the machine's arrays, so the exception code can call it.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.bits import ult
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.sysreg_table import PMU_N

PMCR_E = 1 << 0
PMCR_P = 1 << 1
PMCR_C = 1 << 2
PMCR_D = 1 << 3
PMCR_DP = 1 << 5
PMCR_LC = 1 << 6
PMU_C = 1 << 31            # the cycle counter's bit in PMCNTEN*, PMOVS*, PMINTEN*
FILTER_P = 1 << 31         # PMCCFILTR_EL0 / PMEVTYPER<n>_EL0: do not count at EL1
FILTER_U = 1 << 30         # ... at EL0
FILTER_NSH = 1 << 27       # count at EL2
MDCR_HPME = 1 << 7         # MDCR_EL2.HPME: enables the event counters at or above HPMN
EVT_SW_INCR = 0x00
EVT_L1D_TLB_REFILL = 0x05
EVT_INST_RETIRED = 0x08
EVT_EXC_TAKEN = 0x09
EVT_EXC_RETURN = 0x0A
EVT_CPU_CYCLES = 0x11
EVT_MEM_ACCESS = 0x13
EVT_CHAIN = 0x1E
EVT_BR_RETIRED = 0x21
EVT_MASK = 0x3FF           # PMEVTYPER<n>_EL0.evtCount (PMUv3 for Armv8.0: 10 bits)

# S_PMU region, per PE
P_LAST_INSN = 0            # INSTRET at the last update
P_DIV_LEFT = 1             # cycles not yet counted by PMCCNTR_EL0 under PMCR_EL0.D (< 64)
# Hooked events h (H_*): P_COUNT + h counts them since the last update, while counted;
# P_ATTN + h is 0 when no counter counts event h at the current EL, else the value of
# P_COUNT + h at which an armed counter may overflow (NEVER: none is armed).
H_MEM = 0                  # MEM_ACCESS
H_BR = 1                   # BR_RETIRED
H_TLB = 2                  # L1D_TLB_REFILL
N_HOOKED = 3
P_COUNT = 2
P_ATTN = P_COUNT + N_HOOKED
assert P_ATTN + N_HOOKED <= L.PMU_WIDTH


@njit(cache=True, inline="always")
def _hooked_event(ev):
    """The H_* index of a hooked event number, -1 for the others."""
    if ev == EVT_MEM_ACCESS:
        return H_MEM
    if ev == EVT_BR_RETIRED:
        return H_BR
    if ev == EVT_L1D_TLB_REFILL:
        return H_TLB
    return -1


@njit(cache=True, inline="always")
def _pmu(c):
    return L.S_PMU + c[L.PE_INDEX] * L.PMU_WIDTH


@njit(cache=True)
def pmu_hpmn(c):
    """The number of event counters EL0 and EL1 own: MDCR_EL2.HPMN (a value above PMCR_EL0.N
    is CONSTRAINED UNPREDICTABLE: taken as N)."""
    n = c[SR.MDCR_EL2] & 0x1F
    return n if n < PMU_N else PMU_N


@njit(cache=True, inline="always")
def _filter_allows(f, el):
    if el == 0:
        return (f & FILTER_U) == 0
    if el == 1:
        return (f & FILTER_P) == 0
    return (f & FILTER_NSH) != 0


@njit(cache=True)
def pmu_counting(c, el):
    """Does PMCCNTR_EL0 count cycles spent at ``el``?"""
    if not (c[SR.PMCR_EL0] & PMCR_E) or not (c[SR.PMCNTENSET_EL0] & PMU_C):
        return False
    return _filter_allows(c[SR.PMCCFILTR_EL0], el)


@njit(cache=True)
def pmu_event_enabled(c, i):
    """Is event counter ``i`` enabled (PMCNTENSET_EL0, and PMCR_EL0.E below HPMN or
    MDCR_EL2.HPME from HPMN up), whatever the EL?"""
    if not (c[SR.PMCNTENSET_EL0] >> i) & 1:
        return False
    if i < pmu_hpmn(c):
        return (c[SR.PMCR_EL0] & PMCR_E) != 0
    return (c[SR.MDCR_EL2] & MDCR_HPME) != 0


@njit(cache=True)
def pmu_event_counting(c, i, el):
    return pmu_event_enabled(c, i) and _filter_allows(c[SR.PMEVTYPER0_EL0 + i], el)


@njit(cache=True)
def pmu_active(c):
    """Can any counter count at all (so that EL changes matter)?"""
    return (c[SR.PMCR_EL0] & PMCR_E) != 0 or (c[SR.MDCR_EL2] & MDCR_HPME) != 0


@njit(cache=True)
def pmu_chained(c, i, el):
    """Does odd counter ``i`` count the CHAIN event at ``el``: type CHAIN, enabled, its filter
    allowing ``el``, and its even partner in the same owner's share (MDCR_EL2.HPMN odd splits
    the pair between EL1 and EL2: the Arm ARM leaves such chaining CONSTRAINED UNPREDICTABLE,
    we take "does not count")?"""
    if (i & 1) == 0 or (c[SR.PMEVTYPER0_EL0 + i] & EVT_MASK) != EVT_CHAIN:
        return False
    if i == pmu_hpmn(c):
        return False
    return pmu_event_counting(c, i, el)


@njit(cache=True)
def pmu_event_add(c, i, delta, el):
    """Add to event counter ``i`` (32 bits); a carry out of bit 31 sets PMOVSSET_EL0 bit i and,
    for an even counter whose odd partner counts CHAIN, adds the carries to the partner."""
    v = (c[SR.PMEVCNTR0_EL0 + i] & 0xFFFFFFFF) + delta
    carries = v >> 32
    c[SR.PMEVCNTR0_EL0 + i] = v & 0xFFFFFFFF
    if carries:
        c[SR.PMOVSSET_EL0] |= 1 << i
        j = i + 1
        if (i & 1) == 0 and j < PMU_N and pmu_chained(c, j, el):
            w = (c[SR.PMEVCNTR0_EL0 + j] & 0xFFFFFFFF) + carries
            if w >> 32:
                c[SR.PMOVSSET_EL0] |= 1 << j
            c[SR.PMEVCNTR0_EL0 + j] = w & 0xFFFFFFFF


@njit(cache=True)
def pmu_sync(c, M, el):
    """Count the cycles and instructions since the last update as spent at ``el``.
    PMCCNTR_EL0 advances by the cycles (one per 64 with PMCR_EL0.D, the remainder carried), an
    overflow — of bit 31, or with PMCR_EL0.LC of bit 63 — setting PMOVSSET_EL0.C; each counting
    event counter by its event's count."""
    S = M[L.M_MACH]
    p = _pmu(c)
    now = c[L.CYCLES]
    insns = c[L.INSTRET]
    dcyc = now - c[L.PMU_LAST]
    dins = insns - S[p + P_LAST_INSN]
    dmem = S[p + P_COUNT + H_MEM]
    dbr = S[p + P_COUNT + H_BR]
    dtlb = S[p + P_COUNT + H_TLB]
    for h in range(N_HOOKED):
        dh = S[p + P_COUNT + h]
        if dh:
            S[p + P_COUNT + h] = 0
            at = S[p + P_ATTN + h]
            if at < L.NEVER:
                S[p + P_ATTN + h] = at - dh if at - dh > 1 else 1
    if pmu_counting(c, el):
        delta = dcyc
        if c[SR.PMCR_EL0] & PMCR_D:
            delta += S[p + P_DIV_LEFT]
            S[p + P_DIV_LEFT] = delta & 63
            delta >>= 6
        if delta > 0:
            old = c[SR.PMCCNTR_EL0]
            new = old + delta
            if c[SR.PMCR_EL0] & PMCR_LC:
                overflow = ult(new, old)   # the 64-bit counter wrapped
            else:
                overflow = ((old & 0xFFFFFFFF) + delta) >> 32 != 0
            if overflow:
                c[SR.PMOVSSET_EL0] |= PMU_C
            c[SR.PMCCNTR_EL0] = new
    for i in range(PMU_N):
        if pmu_event_counting(c, i, el):
            ev = c[SR.PMEVTYPER0_EL0 + i] & EVT_MASK
            if ev == EVT_CPU_CYCLES and dcyc > 0:
                pmu_event_add(c, i, dcyc, el)
            elif ev == EVT_INST_RETIRED and dins > 0:
                pmu_event_add(c, i, dins, el)
            elif ev == EVT_MEM_ACCESS and dmem > 0:
                pmu_event_add(c, i, dmem, el)
            elif ev == EVT_BR_RETIRED and dbr > 0:
                pmu_event_add(c, i, dbr, el)
            elif ev == EVT_L1D_TLB_REFILL and dtlb > 0:
                pmu_event_add(c, i, dtlb, el)
    c[L.PMU_LAST] = now
    S[p + P_LAST_INSN] = insns


@njit(cache=True)
def pmu_irq_level(c):
    """The overflow interrupt request: an overflow flag whose interrupt is enabled, of a
    counter enabled by PMCR_EL0.E (the cycle counter, event counters below HPMN) or by
    MDCR_EL2.HPME (the others)."""
    pending = c[SR.PMOVSSET_EL0] & c[SR.PMINTENSET_EL1]
    low = ((1 << pmu_hpmn(c)) - 1) | PMU_C
    high = ((1 << PMU_N) - 1) & ~low
    return ((c[SR.PMCR_EL0] & PMCR_E) != 0 and (pending & low) != 0) or \
        ((c[SR.MDCR_EL2] & MDCR_HPME) != 0 and (pending & high) != 0)


@njit(cache=True)
def _left(c, i):
    """Events until event counter ``i`` overflows."""
    return (1 << 32) - (c[SR.PMEVCNTR0_EL0 + i] & 0xFFFFFFFF)


@njit(cache=True)
def pmu_deadline(c, M):
    """The earliest cycle count at which a counter whose interrupt is enabled (and not already
    flagged) may overflow, counting at the current EL; NEVER when none. Exact for cycles; for
    INST_RETIRED, and for a CHAIN counter (whose overflow needs its partner's), a lower bound
    (an instruction takes at least a cycle), after which the run loop asks again. Only
    meaningful right after ``pmu_sync``.

    Also arms the hooked events' counts for the current EL (``P_ATTN + h``): the number of
    events after which an armed counter may overflow; for MEM_ACCESS the memory layer's
    one-page caches are forgotten so that every access is seen."""
    el = c[L.EL]
    armed = c[SR.PMINTENSET_EL1] & ~c[SR.PMOVSSET_EL0]
    d = L.NEVER
    if (armed & PMU_C) and pmu_counting(c, el):
        v = c[SR.PMCCNTR_EL0]
        if c[SR.PMCR_EL0] & PMCR_LC:
            left = -v if v < 0 else L.NEVER   # counts to 2^64 (only reachable from above 2^63)
        else:
            left = (1 << 32) - (v & 0xFFFFFFFF)
        if left < L.NEVER // 64:
            if c[SR.PMCR_EL0] & PMCR_D:
                left = left * 64 - M[L.M_MACH][_pmu(c) + P_DIV_LEFT]
            d = c[L.PMU_LAST] + left
    S = M[L.M_MACH]
    p = _pmu(c)
    for h in range(N_HOOKED):
        S[p + P_ATTN + h] = 0       # raised to NEVER (counted), then to the least left (armed)
    for i in range(PMU_N):
        if not pmu_event_counting(c, i, el):
            continue
        ev = c[SR.PMEVTYPER0_EL0 + i] & EVT_MASK
        src = i
        if (armed >> i) & 1 and ev == EVT_CHAIN and pmu_chained(c, i, el) and \
                pmu_event_counting(c, i - 1, el):
            src = i - 1    # an armed CHAIN counter: look again when its partner overflows
            ev = c[SR.PMEVTYPER0_EL0 + src] & EVT_MASK
        elif not (armed >> i) & 1:
            h = _hooked_event(ev)
            if h >= 0 and S[p + P_ATTN + h] == 0:
                S[p + P_ATTN + h] = L.NEVER
            continue
        if ev == EVT_CPU_CYCLES or ev == EVT_INST_RETIRED:
            at = c[L.PMU_LAST] + _left(c, src)
            if at < d:
                d = at
        else:
            h = _hooked_event(ev)
            if h >= 0:
                left = _left(c, src)
                if S[p + P_ATTN + h] == 0 or left < S[p + P_ATTN + h]:
                    S[p + P_ATTN + h] = left
    if S[p + P_ATTN + H_BR]:
        S[L.PMU_BR_PES] |= 1 << c[L.PE_INDEX]
    else:
        S[L.PMU_BR_PES] &= ~(1 << c[L.PE_INDEX])
    if S[p + P_ATTN + H_MEM]:
        c[L.DATA_RPAGE] = L.CODE_VPAGE_NONE
        c[L.DATA_WPAGE] = L.CODE_VPAGE_NONE
    return d


@njit(cache=True)
def pmu_mem_watched(c, M):
    """Must every data access be seen (a counter counts MEM_ACCESS at the current EL)? Then
    the memory layer keeps no page in its one-page caches."""
    return M[L.M_MACH][_pmu(c) + P_ATTN + H_MEM] != 0


@njit(cache=True, inline="always")
def _look_now(c):
    """Ask the run loop to bring the PMU up to date after this instruction (``pe_event``),
    which raises the overflow interrupt."""
    c[L.DEADLINE] = c[L.CYCLES]
    c[L.RESCHED] = 1
    c[L.ATTN] = 1


@njit(cache=True)
def _hooked_count(c, M, h):
    """One hooked event h happened: counted only while a counter counts it at the current EL;
    when an armed counter may have overflowed, the run loop is asked to look now."""
    S = M[L.M_MACH]
    p = _pmu(c)
    at = S[p + P_ATTN + h]
    if at:
        n = S[p + P_COUNT + h] + 1
        S[p + P_COUNT + h] = n
        if n >= at:
            _look_now(c)


@njit(cache=True)
def pmu_mem_access(c, M):
    """One data access done (the memory layer's slow path, after it completed): MEM_ACCESS."""
    _hooked_count(c, M, H_MEM)


@njit(cache=True)
def pmu_tlb_refill(c, M):
    """A data access missed the TLB and its walk filled it (armvirt.cpu.mmu): L1D_TLB_REFILL."""
    _hooked_count(c, M, H_TLB)


@njit(cache=True, inline="always")
def pmu_br_retired(c, M):
    """A branch instruction executed (armvirt.exec.branch), taken or not: BR_RETIRED. Inlined
    into the handlers: while no PE counts it the cost is this one load (a machine-wide mask at
    a fixed slot: no PE index to fetch first) and branch; ``_hooked_count`` checks the PE."""
    if M[L.M_MACH][L.PMU_BR_PES]:
        _hooked_count(c, M, H_BR)


@njit(cache=True)
def _count_direct(c, ev, el):
    """Add one to every event counter counting ``ev`` at ``el``; True when that set an overflow
    flag."""
    before = c[SR.PMOVSSET_EL0]
    for i in range(PMU_N):
        if (c[SR.PMEVTYPER0_EL0 + i] & EVT_MASK) == ev and pmu_event_counting(c, i, el):
            pmu_event_add(c, i, 1, el)
    return c[SR.PMOVSSET_EL0] != before


@njit(cache=True)
def pmu_switch_el(c, M, from_el, eret):
    """The PE just changed EL (exception entry, or with ``eret`` an exception return): count
    the cycles and instructions up to now at the EL it left, with the exception as EXC_TAKEN or
    the ERET as EXC_RETURN and BR_RETIRED (Arm recommends counting exception returns as
    branches; FEAT_PMUv3p9 requires it), and make sure the run loop looks again at the overflow
    deadline, which depends on whether the new EL counts."""
    pmu_sync(c, M, from_el)
    if eret:
        ov = _count_direct(c, EVT_EXC_RETURN, from_el)
        ov = _count_direct(c, EVT_BR_RETIRED, from_el) or ov
    else:
        ov = _count_direct(c, EVT_EXC_TAKEN, from_el)
    if ov:
        _look_now(c)
    d = pmu_deadline(c, M)
    if d < c[L.DEADLINE]:
        c[L.DEADLINE] = d
        c[L.RESCHED] = 1
        c[L.ATTN] = 1
