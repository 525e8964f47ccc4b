"""The Performance Monitors Extension, PMUv3 (Arm ARM D13, registers in D19.9): what tools and
microbenchmarks use — the cycle counter PMCCNTR_EL0 with its controls, EL filtering and
overflow interrupt (PPI 23). No event counters are implemented (PMCR_EL0.N = 0), which the
architecture allows; PMSWINC_EL0 and the event-counter selector therefore have nothing to act
on (RAZ/WI).

The cycle counter counts the emulated cycles of ``armvirt.costs`` (time asleep in WFI/WFE
included) as ``pmu_counter`` describes. Access controls: the table's EL0 rules
(PMUSERENR_EL0.EN/CR/SW/ER, trapping to EL1) and EL2 traps (MDCR_EL2.TPM for every register,
TPMCR for PMCR_EL0) apply before these functions run. PMCR_EL0.N reads as MDCR_EL2.HPMN at
EL0 and EL1, as the architecture says when EL2 is implemented (with N = 0 that is 0 too).
"""
from armvirt.jit import njit

from armvirt import layout as L
from armvirt import memmap
from armvirt.cpu import _sysregs as SR
from armvirt.cpu.sysreg_table import PMCR_IDENT, PMU_N
from armvirt.devices.gic import gic_set_ppi
from armvirt.devices.pmu_counter import (FILTER_NSH, FILTER_P, FILTER_U, PMCR_C, PMCR_D,
                                         PMCR_DP, PMCR_E, PMCR_LC, PMU_C, pmu_deadline,
                                         pmu_sync)


PMCR_WMASK = PMCR_E | PMCR_D | PMCR_DP | PMCR_LC
FILTER_WMASK = FILTER_P | FILTER_U | FILTER_NSH
PMCEID0 = 1 << 0x11        # common event CPU_CYCLES: what the cycle counter counts


@njit(cache=True)
def pmu_event(c, M):
    """Bring PMCCNTR_EL0 up to date, drive the overflow interrupt (PPI 23: PMCR_EL0.E and an
    overflow flag whose interrupt is enabled) and return the next overflow deadline."""
    pmu_sync(c, c[L.EL])
    level = (c[SR.PMCR_EL0] & PMCR_E) != 0 and \
        (c[SR.PMOVSSET_EL0] & c[SR.PMINTENSET_EL1] & PMU_C) != 0
    gic_set_ppi(M, c[L.PE_INDEX], memmap.PPI_PMU, level)
    return pmu_deadline(c)


@njit(cache=True)
def pmu_sysreg_read(c, M, enc):
    """MRS of a KIND_PMU register (after the table's access checks)."""
    pmu_sync(c, c[L.EL])
    if enc == SR.ENC_PMCR_EL0:
        n = PMU_N
        if c[L.EL] < 2:
            n = min(c[SR.MDCR_EL2] & 0x1F, PMU_N)   # HPMN (values above N: UNPREDICTABLE)
        return PMCR_IDENT | (n << 11) | (c[SR.PMCR_EL0] & PMCR_WMASK)
    if enc == SR.ENC_PMCNTENSET_EL0 or enc == SR.ENC_PMCNTENCLR_EL0:
        return c[SR.PMCNTENSET_EL0]
    if enc == SR.ENC_PMOVSSET_EL0 or enc == SR.ENC_PMOVSCLR_EL0:
        return c[SR.PMOVSSET_EL0]
    if enc == SR.ENC_PMINTENSET_EL1 or enc == SR.ENC_PMINTENCLR_EL1:
        return c[SR.PMINTENSET_EL1]
    if enc == SR.ENC_PMCCNTR_EL0:
        return c[SR.PMCCNTR_EL0]
    if enc == SR.ENC_PMCCFILTR_EL0:
        return c[SR.PMCCFILTR_EL0]
    if enc == SR.ENC_PMXEVTYPER_EL0:
        # PMSELR_EL0.SEL = 31 selects PMCCFILTR_EL0; other values select no counter (RAZ/WI)
        return c[SR.PMCCFILTR_EL0] if (c[SR.PMSELR_EL0] & 0x1F) == 31 else 0
    if enc == SR.ENC_PMSELR_EL0:
        return c[SR.PMSELR_EL0]
    if enc == SR.ENC_PMUSERENR_EL0:
        return c[SR.PMUSERENR_EL0]
    if enc == SR.ENC_PMCEID0_EL0:
        return PMCEID0
    return 0   # PMCEID1_EL0, PMXEVCNTR_EL0 (no event counter)


@njit(cache=True)
def pmu_sysreg_write(c, M, enc, v):
    """MSR to a KIND_PMU register: the counter is brought up to date first, so the change
    applies from this instruction on; then the interrupt and the deadline are re-evaluated."""
    pmu_sync(c, c[L.EL])
    if enc == SR.ENC_PMCR_EL0:
        c[SR.PMCR_EL0] = v & PMCR_WMASK
        if v & PMCR_C:
            c[SR.PMCCNTR_EL0] = 0
    elif enc == SR.ENC_PMCNTENSET_EL0:
        c[SR.PMCNTENSET_EL0] |= v & PMU_C
    elif enc == SR.ENC_PMCNTENCLR_EL0:
        c[SR.PMCNTENSET_EL0] &= ~(v & PMU_C)
    elif enc == SR.ENC_PMOVSSET_EL0:
        c[SR.PMOVSSET_EL0] |= v & PMU_C
    elif enc == SR.ENC_PMOVSCLR_EL0:
        c[SR.PMOVSSET_EL0] &= ~(v & PMU_C)
    elif enc == SR.ENC_PMINTENSET_EL1:
        c[SR.PMINTENSET_EL1] |= v & PMU_C
    elif enc == SR.ENC_PMINTENCLR_EL1:
        c[SR.PMINTENSET_EL1] &= ~(v & PMU_C)
    elif enc == SR.ENC_PMCCNTR_EL0:
        c[SR.PMCCNTR_EL0] = v
    elif enc == SR.ENC_PMCCFILTR_EL0:
        c[SR.PMCCFILTR_EL0] = v & FILTER_WMASK
    elif enc == SR.ENC_PMXEVTYPER_EL0:
        if (c[SR.PMSELR_EL0] & 0x1F) == 31:
            c[SR.PMCCFILTR_EL0] = v & FILTER_WMASK
    elif enc == SR.ENC_PMSELR_EL0:
        c[SR.PMSELR_EL0] = v & 0x1F
    elif enc == SR.ENC_PMUSERENR_EL0:
        c[SR.PMUSERENR_EL0] = v & 0xF
    # PMSWINC_EL0, PMXEVCNTR_EL0: no event counter to act on
    d = pmu_event(c, M)
    if d < c[L.DEADLINE]:
        c[L.DEADLINE] = d
    c[L.RESCHED] = 1
    c[L.ATTN] = 1
