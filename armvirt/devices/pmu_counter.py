"""PMCCNTR_EL0, the PMU's cycle counter, counted lazily (Arm ARM D13 "The Performance Monitors
Extension").

The counter is kept as a value (the PMCCNTR_EL0 slot) plus the cycle count it was last brought
up to date at (``c[PMU_LAST]``). Whether cycles count depends on PMCR_EL0.E,
PMCNTENSET_EL0.C and, through PMCCFILTR_EL0, on the EL the PE runs at; so the value is brought
up to date (``pmu_sync``) before anything that changes one of those: every PMU register access
and every exception entry and return (``pmu_switch_el``, called by armvirt.cpu.exceptions).
Between those points counting is a subtraction, never a per-instruction cost.

This module depends on nothing but the PE row, so the exception code can call it.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.bits import ult
from armvirt.cpu import _sysregs as SR

PMCR_E = 1 << 0
PMCR_P = 1 << 1
PMCR_C = 1 << 2
PMCR_D = 1 << 3
PMCR_DP = 1 << 5
PMCR_LC = 1 << 6
PMU_C = 1 << 31            # the cycle counter's bit in PMCNTEN*, PMOVS*, PMINTEN*
FILTER_P = 1 << 31         # PMCCFILTR_EL0: do not count at EL1
FILTER_U = 1 << 30         # ... at EL0
FILTER_NSH = 1 << 27       # count at EL2


@njit(cache=True)
def pmu_counting(c, el):
    """Does PMCCNTR_EL0 count cycles spent at ``el``?"""
    if not (c[SR.PMCR_EL0] & PMCR_E) or not (c[SR.PMCNTENSET_EL0] & PMU_C):
        return False
    f = c[SR.PMCCFILTR_EL0]
    if el == 0:
        return (f & FILTER_U) == 0
    if el == 1:
        return (f & FILTER_P) == 0
    return (f & FILTER_NSH) != 0


@njit(cache=True)
def pmu_sync(c, el):
    """Count the cycles since the last update as spent at ``el``: PMCCNTR_EL0 advances by
    them (by one per 64 with PMCR_EL0.D, the remainder carried), and an overflow — of bit 31,
    or with PMCR_EL0.LC of bit 63 — sets PMOVSSET_EL0.C."""
    now = c[L.CYCLES]
    if pmu_counting(c, el):
        delta = now - c[L.PMU_LAST]
        if c[SR.PMCR_EL0] & PMCR_D:
            now -= delta & 63
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
    c[L.PMU_LAST] = now


@njit(cache=True)
def pmu_deadline(c):
    """The cycle count at which PMCCNTR_EL0 overflows, counting at the current EL, if that
    overflow would raise the PMU interrupt (PMINTENSET_EL1.C) and the flag is not already set;
    else NEVER. Only meaningful right after ``pmu_sync``."""
    if not (c[SR.PMINTENSET_EL1] & PMU_C) or (c[SR.PMOVSSET_EL0] & PMU_C) or \
            not pmu_counting(c, c[L.EL]):
        return L.NEVER
    v = c[SR.PMCCNTR_EL0]
    if c[SR.PMCR_EL0] & PMCR_LC:
        left = -v if v < 0 else L.NEVER        # counts to 2^64 (only reachable from above 2^63)
    else:
        left = (1 << 32) - (v & 0xFFFFFFFF)
    if left >= L.NEVER // 64:
        return L.NEVER
    if c[SR.PMCR_EL0] & PMCR_D:
        left *= 64
    return c[L.PMU_LAST] + left


@njit(cache=True)
def pmu_switch_el(c, from_el):
    """The PE just changed EL (exception entry or return): count the cycles up to now at the
    EL it left, and make sure the run loop looks again at the overflow deadline, which depends
    on whether the new EL counts."""
    pmu_sync(c, from_el)
    d = pmu_deadline(c)
    if d < c[L.DEADLINE]:
        c[L.DEADLINE] = d
        c[L.RESCHED] = 1
        c[L.ATTN] = 1
