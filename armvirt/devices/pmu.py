"""The Performance Monitors Extension, PMUv3 (Arm ARM D13, registers in D19.9): the cycle
counter PMCCNTR_EL0 and ``PMU_N`` event counters (CPU_CYCLES, INST_RETIRED, MEM_ACCESS, SW_INCR,
CHAIN, BR_RETIRED, EXC_TAKEN, EXC_RETURN, L1D_TLB_REFILL), with EL filtering, the overflow interrupt (PPI 23), and EL2's share of the counters (MDCR_EL2.HPMN,
HPME). Counting is lazy: ``pmu_counter``.

Access controls: the table's EL0 rules (PMUSERENR_EL0.EN/CR/SW/ER, trapping to EL1) and EL2
traps (MDCR_EL2.TPM for every register, TPMCR for PMCR_EL0) apply before these functions run.
Here, at EL0 and EL1 (EL2 being implemented): PMCR_EL0.N reads as HPMN; the counters from
HPMN up belong to EL2 — their PMEVCNTR<n>/PMEVTYPER<n> (directly or through PMSELR_EL0) are
UNDEFINED, their bits in PMCNTEN*, PMOVS*, PMINTEN* and PMSWINC are RAZ/WI, and PMCR_EL0.P
leaves them alone; they count when MDCR_EL2.HPME is set, not PMCR_EL0.E.

The cycle counter counts the emulated cycles of ``armvirt.costs`` (time asleep in WFI/WFE
included); INST_RETIRED counts instructions executed (``c[INSTRET]``).
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.exceptions import raise_undefined
from armvirt.cpu.sysreg_table import PMCR_IDENT, PMU_N
from armvirt.devices.gic import gic_set_ppi
from armvirt.devices.pmu_counter import (EVT_BR_RETIRED, EVT_CHAIN, EVT_CPU_CYCLES,
                                         EVT_EXC_RETURN, EVT_EXC_TAKEN, EVT_INST_RETIRED,
                                         EVT_L1D_TLB_REFILL, EVT_MEM_ACCESS,
                                         EVT_MASK, EVT_SW_INCR, FILTER_NSH, FILTER_P, FILTER_U,
                                         PMCR_C, PMCR_D, PMCR_DP, PMCR_E, PMCR_LC, PMCR_P,
                                         PMU_C, pmu_deadline, pmu_event_add, pmu_event_counting,
                                         pmu_hpmn, pmu_irq_level, pmu_sync)

PMCR_WMASK = PMCR_E | PMCR_D | PMCR_DP | PMCR_LC
FILTER_WMASK = FILTER_P | FILTER_U | FILTER_NSH
EVTYPER_WMASK = FILTER_WMASK | EVT_MASK
MDCR_WMASK = 0xFFFFF
# Common events implemented (PMCEID0_EL0 bit n = event n, PMCEID1_EL0 bit n = event 0x20 + n)
PMCEID0 = (1 << EVT_SW_INCR) | (1 << EVT_L1D_TLB_REFILL) | (1 << EVT_INST_RETIRED) | \
    (1 << EVT_EXC_TAKEN) | (1 << EVT_EXC_RETURN) | (1 << EVT_CPU_CYCLES) | \
    (1 << EVT_MEM_ACCESS) | (1 << EVT_CHAIN)
PMCEID1 = 1 << (EVT_BR_RETIRED - 0x20)


@njit(cache=True)
def pmu_event(c, M):
    """Bring the counters up to date, drive the overflow interrupt (PPI 23) and return the next
    overflow deadline."""
    pmu_sync(c, M, c[L.EL])
    gic_set_ppi(M, c[L.PE_INDEX], memmap.PPI_PMU, pmu_irq_level(c))
    return pmu_deadline(c, M)


@njit(cache=True)
def _owned(c):
    """The event counters the current EL may reach: all of them at EL2, HPMN below."""
    return PMU_N if c[L.EL] == 2 else pmu_hpmn(c)


@njit(cache=True)
def _event_index(c, enc):
    """n for PMEVCNTR<n>_EL0 / PMEVTYPER<n>_EL0 (directly, or PMXEV* through PMSELR_EL0.SEL),
    -1 for PMCCFILTR_EL0 (SEL = 31), -2 for nothing (a counter that does not exist)."""
    for i in range(PMU_N):
        if enc == SR.ENC_PMEVCNTR0_EL0 + i or enc == SR.ENC_PMEVTYPER0_EL0 + i:
            return i
    sel = c[SR.PMSELR_EL0] & 0x1F
    if sel == 31:
        return -1
    return sel if sel < PMU_N else -2


@njit(cache=True)
def pmu_sysreg_read(c, M, enc, pc):
    """MRS of a KIND_PMU register (after the table's access checks). Returns (ok, value)."""
    el = c[L.EL]
    pmu_sync(c, M, el)
    owned = _owned(c)
    visible = PMU_C | ((1 << owned) - 1)
    if enc == SR.ENC_PMCR_EL0:
        return True, PMCR_IDENT | (owned << 11) | (c[SR.PMCR_EL0] & PMCR_WMASK)
    if enc == SR.ENC_PMCNTENSET_EL0 or enc == SR.ENC_PMCNTENCLR_EL0:
        return True, c[SR.PMCNTENSET_EL0] & visible
    if enc == SR.ENC_PMOVSSET_EL0 or enc == SR.ENC_PMOVSCLR_EL0:
        return True, c[SR.PMOVSSET_EL0] & visible
    if enc == SR.ENC_PMINTENSET_EL1 or enc == SR.ENC_PMINTENCLR_EL1:
        return True, c[SR.PMINTENSET_EL1] & visible
    if enc == SR.ENC_PMCCNTR_EL0:
        return True, c[SR.PMCCNTR_EL0]
    if enc == SR.ENC_PMCCFILTR_EL0:
        return True, c[SR.PMCCFILTR_EL0]
    if enc == SR.ENC_PMSELR_EL0:
        return True, c[SR.PMSELR_EL0]
    if enc == SR.ENC_PMUSERENR_EL0:
        return True, c[SR.PMUSERENR_EL0]
    if enc == SR.ENC_PMCEID0_EL0:
        return True, PMCEID0
    if enc == SR.ENC_PMCEID1_EL0:
        return True, PMCEID1
    if enc == SR.ENC_MDCR_EL2:
        return True, c[SR.MDCR_EL2]
    i = _event_index(c, enc)
    typer = enc == SR.ENC_PMXEVTYPER_EL0 or (
        enc >= SR.ENC_PMEVTYPER0_EL0 and enc < SR.ENC_PMEVTYPER0_EL0 + PMU_N)
    if i == -1:
        return True, c[SR.PMCCFILTR_EL0] if typer else 0
    if i >= owned or (i < 0 and el < 2):
        raise_undefined(c, M, pc)   # EL2's counter, or none at all
        return False, 0
    if i < 0:
        return True, 0               # no such counter (EL2): RAZ/WI
    return True, c[(SR.PMEVTYPER0_EL0 if typer else SR.PMEVCNTR0_EL0) + i]


@njit(cache=True)
def pmu_sysreg_write(c, M, enc, v, pc):
    """MSR to a KIND_PMU register: the counters are brought up to date first, so the change
    applies from this instruction on; then the interrupt and the deadline are re-evaluated.
    Returns ok (False after taking an exception)."""
    el = c[L.EL]
    pmu_sync(c, M, el)
    owned = _owned(c)
    visible = PMU_C | ((1 << owned) - 1)
    if enc == SR.ENC_PMCR_EL0:
        c[SR.PMCR_EL0] = v & PMCR_WMASK
        if v & PMCR_C:
            c[SR.PMCCNTR_EL0] = 0
        if v & PMCR_P:
            for i in range(owned):
                c[SR.PMEVCNTR0_EL0 + i] = 0
    elif enc == SR.ENC_PMCNTENSET_EL0:
        c[SR.PMCNTENSET_EL0] |= v & visible
    elif enc == SR.ENC_PMCNTENCLR_EL0:
        c[SR.PMCNTENSET_EL0] &= ~(v & visible)
    elif enc == SR.ENC_PMOVSSET_EL0:
        c[SR.PMOVSSET_EL0] |= v & visible
    elif enc == SR.ENC_PMOVSCLR_EL0:
        c[SR.PMOVSSET_EL0] &= ~(v & visible)
    elif enc == SR.ENC_PMINTENSET_EL1:
        c[SR.PMINTENSET_EL1] |= v & visible
    elif enc == SR.ENC_PMINTENCLR_EL1:
        c[SR.PMINTENSET_EL1] &= ~(v & visible)
    elif enc == SR.ENC_PMCCNTR_EL0:
        c[SR.PMCCNTR_EL0] = v
    elif enc == SR.ENC_PMCCFILTR_EL0:
        c[SR.PMCCFILTR_EL0] = v & FILTER_WMASK
    elif enc == SR.ENC_PMSELR_EL0:
        c[SR.PMSELR_EL0] = v & 0x1F
    elif enc == SR.ENC_PMUSERENR_EL0:
        c[SR.PMUSERENR_EL0] = v & 0xF
    elif enc == SR.ENC_MDCR_EL2:
        c[SR.MDCR_EL2] = v & MDCR_WMASK
    elif enc == SR.ENC_PMSWINC_EL0:
        for i in range(owned):
            if (v >> i) & 1 and (c[SR.PMEVTYPER0_EL0 + i] & EVT_MASK) == EVT_SW_INCR and \
                    pmu_event_counting(c, i, el):
                pmu_event_add(c, i, 1, el)
    else:
        i = _event_index(c, enc)
        typer = enc == SR.ENC_PMXEVTYPER_EL0 or (
            enc >= SR.ENC_PMEVTYPER0_EL0 and enc < SR.ENC_PMEVTYPER0_EL0 + PMU_N)
        if i == -1:
            if typer:
                c[SR.PMCCFILTR_EL0] = v & FILTER_WMASK
        elif i >= owned or (i < 0 and el < 2):
            raise_undefined(c, M, pc)
            return False
        elif i >= 0:
            if typer:
                c[SR.PMEVTYPER0_EL0 + i] = v & EVTYPER_WMASK
            else:
                c[SR.PMEVCNTR0_EL0 + i] = v & 0xFFFFFFFF
    d = pmu_event(c, M)
    if d < c[L.DEADLINE]:
        c[L.DEADLINE] = d
    c[L.RESCHED] = 1
    c[L.ATTN] = 1
    return True
