"""The Generic Timer (Arm ARM D11): the system counter and, per PE, the EL1 physical timer
(CNTP_*, PPI 30), the EL1 virtual timer (CNTV_*, PPI 27, counting CNTVCT = CNTPCT - CNTVOFF_EL2)
and the EL2 physical timer (CNTHP_*, PPI 26).

Time. The system counter (CNTPCT_EL0) is the PE's cycle count divided by ``c[TICK_CYCLES]``,
the cost profile's CPU clock over the board's 62.5 MHz counter (``armvirt/costs.py``; 16 in the
``simple`` profile): emulated time, never the host's. The run loop
keeps the PEs' cycle counts in step (``armvirt/engine.py``, ARCHITECTURE.md "Time"), so the
counter is one machine-wide time.

A timer's condition is ``count - CVAL >= 0`` as an unsigned comparison (D11.2.4, "the timer
condition is met when CNTxCT >= CNTx_CVAL"); its interrupt output is ENABLE && !IMASK && the
condition, a level into the GIC. The condition only changes by itself from false to true, at a
cycle count known in advance: each PE keeps the earliest such cycle of its timers (and of the
PMU's counter overflow) in ``c[DEADLINE]``. The run loop ends a slice of instructions there and
calls ``pe_event`` — so timers cost nothing per instruction. A write of a timer register
re-evaluates the outputs and the deadline at once and ends the slice (``c[RESCHED]``) so the new
deadline is honoured exactly.
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt.bits import ult
from armvirt import memmap
from armvirt.cpu import _sysregs as SR
from armvirt.devices.gic import gic_set_ppi
from armvirt.devices.pmu import pmu_event

TIMER_P = 0      # EL1 physical timer (CNTP_*)
TIMER_V = 1      # EL1 virtual timer (CNTV_*)
TIMER_HP = 2     # EL2 physical timer (CNTHP_*)

CTL_ENABLE = 1
CTL_IMASK = 2
CTL_ISTATUS = 4


@njit(cache=True, inline="always")
def counter_value(c):
    """CNTPCT_EL0: the system counter, derived from the PE's deterministic cycle count."""
    return c[L.CYCLES] // c[L.TICK_CYCLES]


# Per timer (indexed by TIMER_*): its CTL and CVAL slots and its PPI
_CTL = (SR.CNTP_CTL_EL0, SR.CNTV_CTL_EL0, SR.CNTHP_CTL_EL2)
_CVAL = (SR.CNTP_CVAL_EL0, SR.CNTV_CVAL_EL0, SR.CNTHP_CVAL_EL2)
_PPI = (memmap.PPI_PHYS_TIMER, memmap.PPI_VIRT_TIMER, memmap.PPI_HYP_TIMER)


@njit(cache=True)
def timer_count(c, t):
    """The count timer ``t`` compares with: CNTPCT, or CNTVCT = CNTPCT - CNTVOFF_EL2
    (modulo 2^64) for the virtual timer."""
    if t == TIMER_V:
        return counter_value(c) - c[SR.CNTVOFF_EL2]
    return counter_value(c)


@njit(cache=True)
def timer_condition(c, t):
    """count >= CVAL, as unsigned 64-bit values."""
    return not ult(timer_count(c, t), c[_CVAL[t]])


@njit(cache=True)
def timer_output(c, t):
    ctl = c[_CTL[t]]
    return (ctl & CTL_ENABLE) != 0 and (ctl & CTL_IMASK) == 0 and timer_condition(c, t)


@njit(cache=True)
def timer_deadline(c, t):
    """The cycle count at which timer ``t``'s output rises, or NEVER (disabled, masked,
    already asserted, or further away than the counter can go)."""
    ctl = c[_CTL[t]]
    if (ctl & CTL_ENABLE) == 0 or (ctl & CTL_IMASK) != 0 or timer_condition(c, t):
        return L.NEVER
    ticks = c[_CVAL[t]] - timer_count(c, t)   # unsigned distance; > 0 here
    if ticks < 0 or ticks >= L.NEVER // c[L.TICK_CYCLES]:
        return L.NEVER
    at = (counter_value(c) + ticks) * c[L.TICK_CYCLES]
    return at if at < L.NEVER else L.NEVER


@njit(cache=True)
def pe_event(c, M):
    """Bring the PE's timers and PMU up to its cycle count: drive the timer PPIs and the PMU
    overflow PPI, and compute the next deadline. Called by the run loop when c[CYCLES] reaches
    c[DEADLINE], and after every write of a register that moves a deadline."""
    pe = c[L.PE_INDEX]
    d = pmu_event(c, M)
    for t in range(3):
        gic_set_ppi(M, pe, _PPI[t], timer_output(c, t))
        td = timer_deadline(c, t)
        if td < d:
            d = td
    c[L.DEADLINE] = d


@njit(cache=True)
def _which(enc):
    """(timer, register) from the encoding (op0 = 3, CRn = 14): CRm 2 is a physical timer —
    CNTP_* with op1 = 3, CNTHP_* with op1 = 4 — and CRm 3 the virtual one; op2 0/1/2 is
    TVAL/CTL/CVAL. (-1, 0) for CNTVOFF_EL2 (CRm 0)."""
    crm = (enc >> 3) & 0xF
    if crm == 3:
        return TIMER_V, enc & 7
    if crm == 2:
        return (TIMER_HP if ((enc >> 11) & 7) == 4 else TIMER_P), enc & 7
    return -1, 0


@njit(cache=True)
def timer_sysreg_read(c, M, enc):
    """MRS of a KIND_TIMER register (the access checks are the table's).

    * CTL: ENABLE, IMASK as written; ISTATUS = ENABLE && the condition (UNKNOWN when disabled:
      we say 0).
    * TVAL: the low 32 bits of CVAL - count (bits 63:32 RES0).
    """
    t, reg = _which(enc)
    if t < 0:
        return c[SR.CNTVOFF_EL2]
    if reg == 1:
        ctl = c[_CTL[t]] & (CTL_ENABLE | CTL_IMASK)
        if ctl & CTL_ENABLE and timer_condition(c, t):
            ctl |= CTL_ISTATUS
        return ctl
    if reg == 2:
        return c[_CVAL[t]]
    return (c[_CVAL[t]] - timer_count(c, t)) & 0xFFFFFFFF


@njit(cache=True)
def timer_sysreg_write(c, M, enc, v):
    """MSR to a KIND_TIMER register. A TVAL write sets CVAL = count + SignExtend(TVAL[31:0]).
    The outputs and the deadline are re-evaluated at once, and the run loop re-plans its
    slice."""
    t, reg = _which(enc)
    if t < 0:
        c[SR.CNTVOFF_EL2] = v
    elif reg == 1:
        c[_CTL[t]] = v & (CTL_ENABLE | CTL_IMASK)
    elif reg == 2:
        c[_CVAL[t]] = v
    else:
        tval = v & 0xFFFFFFFF
        if tval & 0x80000000:
            tval -= 1 << 32
        c[_CVAL[t]] = timer_count(c, t) + tval
    pe_event(c, M)
    c[L.RESCHED] = 1
    c[L.ATTN] = 1
