"""The PMU: the cycle counter and the event counters counting emulated cycles, instructions and
software increments, data memory accesses (MEM_ACCESS) and chained pairs (CHAIN), EL filtering, the overflow interrupt, the EL0 enables, the EL2 traps and
EL2's share of the counters (MDCR_EL2.HPMN/HPME).

Expected counts come from the cost model (``armvirt/costs.py``: 1 cycle per instruction, +2
for ISB, +10 for an exception entry and for an exception return) and the Arm ARM (D13, D19.9):
PMCR_EL0 E [0], C [2] (reset PMCCNTR), D [3] (count every 64 cycles), LC [6]; the cycle
counter's bit C [31] in PMCNTENSET/PMOVSSET/PMINTENSET; PMCCFILTR_EL0 P [31] (not EL1), U [30]
(not EL0), NSH [27] (count EL2), the same in PMEVTYPER<n>_EL0 with evtCount [9:0] (0x00
SW_INCR, 0x05 L1D_TLB_REFILL, 0x08 INST_RETIRED, 0x09 EXC_TAKEN, 0x0A EXC_RETURN, 0x11 CPU_CYCLES,
0x13 MEM_ACCESS, 0x1E CHAIN on odd counters, 0x21 BR_RETIRED); PMUSERENR_EL0 EN [0], CR [2]; MDCR_EL2 HPMN [4:0],
TPMCR [5], TPM [6], HPME [7]; ID_AA64DFR0_EL1.PMUVer [11:8] = 1 (PMUv3).
"""
from __future__ import annotations

import pytest

from test_exceptions import sysreg_iss as iss
from gicrig import CODE, CUR_SPX, IRQ, LOWER, VBAR1, VBAR2, GicRig, gic_on, msr

C = 1 << 31
EC_SYS = 0x18
HCR_RW = 1 << 31
EL1_CODE = 0x4000_5000
EL0_CODE = 0x4000_6000
ENABLE = msr("pmcr_el0", 1) + msr("pmcntenset_el0", C)



def el1(src: str, n: int = 2000, **regs) -> GicRig:
    r = GicRig()
    r.code(CODE, src + "b .\n")
    r.boot(1, **regs)
    r.run(n)
    return r


def test_counts_emulated_cycles_exactly():
    r = el1(ENABLE + """
        isb
        mrs x2, pmccntr_el0
        mov x3, #100
    1:  subs x3, x3, #1
        b.ne 1b
        isb
        mrs x4, pmccntr_el0
        mrs x5, id_aa64dfr0_el1
        mrs x6, pmcr_el0
    """)
    # mrs + mov + 100 x (subs, b.ne) + isb (1 + 2): 205 cycles between the two reads
    assert r["x4"] - r["x2"] == 205
    assert (r["x5"] >> 8) & 0xF == 1                 # PMUVer: PMUv3
    assert r["x6"] == (0x41 << 24) | (6 << 11) | 1   # IMP Arm, N = 6 (= HPMN), E


def test_disabled_counter_and_pmcr_c_and_d():
    r = el1("""
        mrs x1, pmccntr_el0
        mov x9, #1
        msr pmcr_el0, x9                  // E, but PMCNTENSET.C clear: not counting
        nop
        mrs x2, pmccntr_el0
    """ + msr("pmcntenset_el0", C) + """
        mov x9, #5                        // E | C: reset the counter
        msr pmcr_el0, x9
        mrs x3, pmccntr_el0
        mov x9, #9                        // E | D: one count per 64 cycles
        msr pmcr_el0, x9
        mov x10, #320
    1:  subs x10, x10, #1
        b.ne 1b
        mrs x4, pmccntr_el0
    """)
    assert r["x1"] == 0 and r["x2"] == 0
    assert r["x3"] == 1                 # reset during the MSR; the MSR's own cycle counts
    # the MRS of x3 and the MOV still count one each; then with D the MSR, the MOV and the
    # 640 loop cycles count once per 64: 2 + 642 // 64
    assert r["x4"] - r["x3"] == 2 + 10


def test_cycles_at_el1_are_filtered_out_with_p():
    """EL2 counts EL2 only (PMCCFILTR_EL0.P = 1, NSH = 1), ERETs to an EL1 loop and comes back
    by HVC: the counter only saw the EL2 side: the MRS (1), and the HVC's entry (10 + 1)."""
    r = GicRig()
    r.code(CODE, ENABLE + msr("pmccfiltr_el0", C | (1 << 27))
           + msr("elr_el2", EL1_CODE) + msr("spsr_el2", 0x3C5) + """
        mrs x2, pmccntr_el0
        eret
    """)
    r.code(EL1_CODE, "mov x3, #500\n1: subs x3, x3, #1\nb.ne 1b\nhvc #0\n")
    r.vector(VBAR2, LOWER, "mrs x4, pmccntr_el0\nb .\n")
    r.boot(2)
    r.run(2000)
    assert r["el"] == 2 and r["pc"] == VBAR2 + LOWER + 4
    assert r["x4"] - r["x2"] == 12


def test_el2_is_not_counted_by_default():
    r = GicRig()
    r.code(CODE, ENABLE + "mrs x2, pmccntr_el0\nmov x3, #50\n1: subs x3, x3, #1\nb.ne 1b\n"
           "mrs x4, pmccntr_el0\nb .\n")
    r.boot(2)
    r.run(300)
    assert r["x4"] == r["x2"]                        # PMCCFILTR_EL0.NSH resets to 0


def test_overflow_raises_ppi_23():
    handler = """
        mrs x20, icc_iar1_el1
        mrs x21, pmovsset_el0
        mrs x22, pmccntr_el0
        msr pmovsclr_el0, x21
        mrs x23, pmovsset_el0
        msr icc_eoir1_el1, x20
        b .
    """
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + IRQ, handler)
    r.code(CODE, gic_on(enable=1 << 23) + msr("pmccntr_el0", 0xFFFF_FF00)
           + msr("pmintenset_el1", C) + ENABLE + "msr daifclr, #2\nmov x1, #1000\n"
           "1: subs x1, x1, #1\nb.ne 1b\nb .\n")
    r.boot(1)
    r.run(2000)
    assert r["x20"] == 23
    assert r["x21"] == C and r["x23"] == 0
    # 64-bit counter, 32-bit overflow (LC = 0): it went past 2^32, and the interrupt came on
    # the cycle of the overflow (give or take the exception entry and two instructions)
    assert 0 <= r["x22"] - (1 << 32) <= 16


@pytest.mark.parametrize("userenr, insn, trapped", [
    (0, "mrs x2, pmccntr_el0", True),
    (1 << 2, "mrs x2, pmccntr_el0", False),          # CR: reads of the cycle counter
    (1 << 2, "msr pmccntr_el0, x2", True),           # ... but not writes
    (1, "msr pmccntr_el0, x2", False),               # EN: everything
    (0, "mrs x2, pmuserenr_el0", False),             # always readable at EL0
])
def test_pmuserenr_gates_el0(userenr, insn, trapped):
    r = GicRig()
    r.code(CODE, msr("pmuserenr_el0", userenr) + f"msr spsr_el1, xzr\n"
           f"ldr x1, ={EL0_CODE:#x}\nmsr elr_el1, x1\neret\n")
    r.code(EL0_CODE, f"{insn}\nmov x3, #1\nb .\n")
    r.boot(1)
    r.run(30)
    if trapped:
        assert r["pc"] == VBAR1 + LOWER and r["ESR_EL1"] >> 26 == EC_SYS
        assert r["ELR_EL1"] == EL0_CODE
    else:
        assert r["el"] == 0 and r["x3"] == 1


@pytest.mark.parametrize("mdcr, insn, trapped_iss", [
    (1 << 6, "mrs x2, pmccntr_el0", iss(3, 3, 9, 13, 0, 2, True)),    # TPM: everything
    (1 << 6, "msr pmintenset_el1, x2", iss(3, 0, 9, 14, 1, 2, False)),
    (1 << 5, "mrs x2, pmcr_el0", iss(3, 3, 9, 12, 0, 2, True)),       # TPMCR: PMCR_EL0
    (1 << 5, "mrs x2, pmccntr_el0", None),
])
def test_mdcr_el2_traps(mdcr, insn, trapped_iss):
    r = GicRig()
    r.code(CODE, msr("mdcr_el2", mdcr) + msr("elr_el2", EL1_CODE) + msr("spsr_el2", 0x3C5)
           + "eret\n")
    r.code(EL1_CODE, f"{insn}\nmov x3, #1\nb .\n")
    r.boot(2)
    r.run(30)
    if trapped_iss is None:
        assert r["el"] == 1 and r["x3"] == 1
    else:
        assert r["el"] == 2 and r["pc"] == VBAR2 + LOWER
        assert r["ESR_EL2"] == (EC_SYS << 26) | (1 << 25) | trapped_iss


def test_event_counters_count_instructions_cycles_and_software_increments():
    r = el1(ENABLE + msr("pmcntenset_el0", 0b11) + """
        mov x1, #0x08                 // INST_RETIRED
        msr pmevtyper0_el0, x1
        mov x1, #0x11                 // CPU_CYCLES
        msr pmevtyper1_el0, x1
        isb
        mrs x2, pmevcntr0_el0
        mrs x3, pmevcntr1_el0
        mrs x4, pmccntr_el0
        mov x9, #50
    1:  subs x9, x9, #1
        b.ne 1b
        isb
        mrs x5, pmevcntr0_el0
        mrs x6, pmevcntr1_el0
        mrs x7, pmccntr_el0
        msr pmevtyper0_el0, xzr       // SW_INCR
        msr pmevcntr0_el0, xzr
        mov x1, #1
        msr pmswinc_el0, x1
        msr pmswinc_el0, x1
        mov x1, #2                    // counter 1 counts cycles, not software increments
        msr pmswinc_el0, x1
        mrs x8, pmevcntr0_el0
        mov x1, #3
        msr pmselr_el0, x1
        mov x1, #1
        msr pmselr_el0, x1            // PMXEV* now reach counter 1
        mrs x10, pmxevtyper_el0
        mrs x11, pmceid0_el0
        mrs x12, pmceid1_el0
    """)
    # between the reads: 3 mrs + mov + 100 loop + isb = 105 instructions, 107 cycles ...
    assert r["x5"] - r["x2"] == 105
    assert r["x6"] - r["x3"] == r["x7"] - r["x4"] == 107   # ... as the cycle counter says
    assert r["x8"] == 2 and r["x10"] == 0x11
    # SW_INCR, L1D_TLB_REFILL, INST_RETIRED, EXC_TAKEN, EXC_RETURN, CPU_CYCLES, MEM_ACCESS,
    # CHAIN; PMCEID1_EL0: BR_RETIRED (0x21, bit 1)
    assert r["x11"] == (1 << 0x00) | (1 << 0x05) | (1 << 0x08) | (1 << 0x09) | (1 << 0x0A) | \
        (1 << 0x11) | (1 << 0x13) | (1 << 0x1E)
    assert r["x12"] == 1 << 1


def test_event_counter_filter_and_overflow_interrupt():
    """Counter 0 counts instructions at EL1 only (U = 1: not EL0) from 2^32 - 40: it overflows,
    sets PMOVSSET_EL0 bit 0 and raises PPI 23."""
    handler = """
        mrs x20, icc_iar1_el1
        mrs x21, pmovsset_el0
        mrs x22, pmevcntr0_el0
        msr pmovsclr_el0, x21
        msr icc_eoir1_el1, x20
        b .
    """
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + IRQ, handler)
    r.code(CODE, gic_on(enable=1 << 23) + msr("pmevtyper0_el0", (1 << 30) | 0x08)
           + msr("pmevcntr0_el0", 0xFFFF_FFD8) + msr("pmintenset_el1", 1)
           + msr("pmcntenset_el0", 1) + msr("pmcr_el0", 1)
           + "msr daifclr, #2\n1: b 1b\n")
    r.boot(1)
    r.run(300)
    assert r["x20"] == 23 and r["x21"] == 1
    assert r["x22"] < 8                       # wrapped to a small count


def test_hpmn_gives_el2_its_own_counters():
    """MDCR_EL2.HPMN = 1: EL1 sees one event counter (PMCR_EL0.N = 1); counter 1 is EL2's —
    UNDEFINED at EL1, its enable bit RAZ/WI there — and counts when MDCR_EL2.HPME is set,
    even with PMCR_EL0.E clear."""
    r = GicRig()
    r.code(CODE, msr("pmevtyper1_el0", 0x08) + msr("pmcntenset_el0", 0b10)
           + msr("mdcr_el2", 1 | (1 << 7)) + "isb\nmrs x2, pmevcntr1_el0\n"
           + msr("elr_el2", EL1_CODE) + msr("spsr_el2", 0x3C5) + "eret\n")
    r.code(EL1_CODE, """
        mrs x3, pmcr_el0
        mrs x4, pmcntenset_el0
        mov x5, #3
        msr pmcntenclr_el0, x5        // bit 1 is EL2's: ignored
        mov x5, #1
        msr pmselr_el0, x5
        mrs x6, pmxevcntr_el0         // UNDEFINED at EL1
        b .
    """)
    r.vector(VBAR1, CUR_SPX, "mrs x7, pmevcntr0_el0\nb .\n")
    r.boot(2)
    r.run(100)
    assert (r["x3"] >> 11) & 0x1F == 1 and r["x3"] & 1 == 0
    assert r["x4"] == 0
    assert r["pc"] == VBAR1 + CUR_SPX + 4 and r["ESR_EL1"] == 1 << 25     # UNDEFINED
    assert r["ELR_EL1"] == EL1_CODE + 24
    assert r["PMCNTENSET_EL0"] == 0b10                   # EL2's enable survived
    assert r["PMEVCNTR1_EL0"] > r["x2"] + 10             # it counted EL1's instructions
    assert r.m.pmu_info()["hpmn"] == 1


def test_a_debugger_write_of_the_counter_is_exact():
    r = el1(ENABLE + "1: b 1b\n", n=500)
    r.m.set_reg("PMCCNTR_EL0", 1000)
    assert r["PMCCNTR_EL0"] == 1000          # nothing from before the write leaks in
    r.run(10)
    assert r["PMCCNTR_EL0"] == 1010


def test_mem_access_counts_every_data_access():
    """MEM_ACCESS (0x13) counts each data access: the LDR of the literal pool, then per
    iteration an LDR, an STR and an LDP (two accesses), 1 + 4 x 30 = 121; instruction fetches
    are not data accesses. Counting stops with the counter's enable, and the loads go back to
    the one-page cache."""
    r = el1(msr("pmevtyper0_el0", 0x13) + msr("pmcntenset_el0", 1) + msr("pmcr_el0", 1) + """
        ldr x1, =0x40008000
        mov x9, #30
    1:  ldr x2, [x1]
        str x2, [x1, #8]
        ldp x3, x4, [x1, #16]
        subs x9, x9, #1
        b.ne 1b
        mrs x5, pmevcntr0_el0
        msr pmcntenclr_el0, x9         // x9 = 0: nothing
        mov x9, #1
        msr pmcntenclr_el0, x9
        ldr x2, [x1]
        ldr x2, [x1, #8]
        mrs x6, pmevcntr0_el0
    """)
    assert r["x5"] == 121 and r["x6"] == 121
    from armvirt import layout as L
    assert r.m.cpus[0][L.DATA_RPAGE] == 0x40008    # the fast path is back


def test_mem_access_overflow_raises_ppi_23():
    """A MEM_ACCESS counter started 5 below 2^32 overflows on the fifth access — the LDR of the
    literal, then the loop's fourth store (of x9 = 97): the interrupt is taken right after
    that instruction, with the counter at 0."""
    handler = """
        mrs x20, icc_iar1_el1
        mrs x21, pmovsset_el0
        mrs x22, pmevcntr2_el0
        mov x23, x9
        msr pmovsclr_el0, x21
        msr icc_eoir1_el1, x20
        b .
    """
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + IRQ, handler)
    r.code(CODE, gic_on(enable=1 << 23) + msr("pmevtyper2_el0", 0x13)
           + msr("pmevcntr2_el0", 0xFFFF_FFFB) + msr("pmintenset_el1", 1 << 2)
           + msr("pmcntenset_el0", 1 << 2) + msr("pmcr_el0", 1) + """
        msr daifclr, #2
        ldr x1, =0x40008000
        mov x9, #100
    1:  str x9, [x1]
        sub x9, x9, #1
        b 1b
    """)
    r.boot(1)
    r.run(500)
    assert r["x20"] == 23 and r["x21"] == 1 << 2
    assert r["x22"] == 0
    assert r["x23"] == 97          # after the fourth store, before the SUB after it


def test_chain_makes_a_64_bit_counter():
    """Counter 1 counts CHAIN (0x1E): one per overflow of counter 0, which counts instructions
    from 2^32 - 10; together they are one 64-bit count. Counter 3 counts CHAIN too, but counter
    2 never overflows; counter 0 sets its own overflow flag as usual."""
    r = el1(msr("pmevtyper0_el0", 0x08) + msr("pmevcntr0_el0", 0xFFFF_FFF6)
            + msr("pmevtyper1_el0", 0x1E) + msr("pmevcntr1_el0", 7)
            + msr("pmevtyper2_el0", 0x08) + msr("pmevtyper3_el0", 0x1E)
            + msr("pmcntenset_el0", 0b1111) + msr("pmcr_el0", 1) + """
        mov x9, #20
    1:  subs x9, x9, #1
        b.ne 1b
        mrs x2, pmevcntr0_el0
        mrs x3, pmevcntr1_el0
        mrs x4, pmevcntr3_el0
        mrs x5, pmovsset_el0
    """)
    # from the enabling MSR's completion: mov + 40 loop + mrs = 42 instructions: 32 past 2^32
    assert r["x3"] == 8 and r["x2"] == 32
    assert r["x4"] == 0 and r["x5"] == 1


def test_chain_overflow_interrupt_of_the_odd_counter():
    """A chained pair at 2^64 - 3 (odd 0xFFFFFFFF, even 0xFFFFFFFD) counting instructions: the
    even counter's overflow carries into the odd one, which overflows too and raises PPI 23
    (only the odd counter's interrupt is enabled, as Linux does for a 64-bit event)."""
    handler = """
        mrs x20, icc_iar1_el1
        mrs x21, pmovsset_el0
        mrs x22, pmevcntr5_el0
        mrs x23, pmevcntr4_el0
        msr pmovsclr_el0, x21
        msr icc_eoir1_el1, x20
        b .
    """
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + IRQ, handler)
    r.code(CODE, gic_on(enable=1 << 23) + msr("pmevtyper4_el0", 0x08)
           + msr("pmevcntr4_el0", 0xFFFF_FFFD) + msr("pmevtyper5_el0", 0x1E)
           + msr("pmevcntr5_el0", 0xFFFF_FFFF) + msr("pmintenset_el1", 1 << 5)
           + "msr daifclr, #2\n" + msr("pmcntenset_el0", 0b11 << 4) + msr("pmcr_el0", 1)
           + "1: b 1b\n")
    r.boot(1)
    r.run(300)
    assert r["x20"] == 23 and r["x21"] == 0b11 << 4
    assert r["x22"] == 0 and r["x23"] < 8


def test_odd_hpmn_splits_a_pair_and_it_does_not_chain():
    """MDCR_EL2.HPMN = 3: counter 3 (EL2's, HPME set) counts CHAIN, but its partner, counter 2,
    is EL1's: the pair is split, and counter 3 does not count counter 2's overflows."""
    r = GicRig()
    r.code(CODE, msr("pmevtyper3_el0", 0x1E | (1 << 27)) + msr("pmcntenset_el0", 0b1100)
           + msr("mdcr_el2", 3 | (1 << 7)) + msr("pmevtyper2_el0", 0x08)
           + msr("pmevcntr2_el0", 0xFFFF_FFF0) + msr("pmcr_el0", 1)
           + msr("elr_el2", EL1_CODE) + msr("spsr_el2", 0x3C5) + "eret\n")
    r.code(EL1_CODE, "mov x9, #40\n1: subs x9, x9, #1\nb.ne 1b\nmrs x2, pmevcntr2_el0\n"
           "mrs x3, pmcr_el0\nb .\n")
    r.boot(2)
    r.run(200)
    assert (r["x3"] >> 11) & 0x1F == 3
    assert r["x2"] < 0x100 and r["PMOVSSET_EL0"] == 1 << 2
    assert r["PMEVCNTR3_EL0"] == 0


def test_hpmn_partition_as_the_arm_arm_says():
    """MDCR_EL2.HPMN = 2, HPME = 1 (D13.3.1): PMCR_EL0.N reads 6 at EL2 and 2 at EL1; PMCR_EL0.P
    written at EL1 resets counters 0-1 only; PMSWINC_EL0 at EL1 does not reach EL2's counter 3
    (its bit is WI there); at EL2 it does (SW_INCR is filtered like any event: NSH counts EL2),
    and with PMCR_EL0.E clear — HPME enables it — it overflows and raises PPI 23."""
    r = GicRig()
    r.code(CODE, msr("pmevtyper0_el0", 0) + msr("pmevtyper3_el0", 1 << 27)
           + msr("pmevcntr0_el0", 7) + msr("pmevcntr3_el0", 0xFFFF_FFFF)
           + msr("pmcntenset_el0", 0b1001) + msr("pmintenset_el1", 0b1000)
           + msr("mdcr_el2", 2 | (1 << 7)) + "mrs x2, pmcr_el0\n"
           + msr("elr_el2", EL1_CODE) + msr("spsr_el2", 0x3C5) + "eret\n")
    r.code(EL1_CODE, """
        mrs x3, pmcr_el0
        mov x5, #3                    // E | P
        msr pmcr_el0, x5
        mov x5, #0b1001
        msr pmswinc_el0, x5           // counter 0: +1; counter 3: EL2's, WI here
        mrs x4, pmevcntr0_el0
        hvc #0
    """)
    r.vector(VBAR2, LOWER, "mrs x6, pmevcntr3_el0\nmrs x7, pmovsset_el0\n"
             "msr pmcr_el0, xzr\nmov x5, #0b1000\nmsr pmswinc_el0, x5\n"
             "mrs x8, pmevcntr3_el0\nmrs x9, pmovsset_el0\nb .\n")
    r.boot(2)
    r.run(200)
    assert (r["x2"] >> 11) & 0x1F == 6 and (r["x3"] >> 11) & 0x1F == 2
    assert r["x4"] == 1                              # reset by P, then one increment
    assert r["x6"] == 0xFFFF_FFFF and r["x7"] == 0   # EL2's counter: not reset, not counted
    assert r["x8"] == 0 and r["x9"] == 0b1000        # at EL2, E clear: counts, overflows
    assert any(row["intid"] == 23 and row["line"] for row in r.m.gic_info()["interrupts"])


# ---------------------------------------------------------------------------------------------
# BR_RETIRED, EXC_TAKEN, EXC_RETURN, L1D_TLB_REFILL (Arm ARM D14.3 "Common event numbers").
# QEMU implements none of them (target/arm's pm_events), so the Arm ARM is the only oracle.
# ---------------------------------------------------------------------------------------------
def test_br_retired_counts_branches_taken_or_not():
    """BR_RETIRED (0x21) counts every architecturally executed branch: "Conditional branches
    are always counted, regardless of whether the branch is taken" (Arm ARM, 0x0021). Not the
    ISB, MRS, ADR or the data processing around them."""
    r = el1(msr("pmevtyper0_el0", 0x21) + msr("pmcntenset_el0", 1) + msr("pmcr_el0", 1) + """
        isb
        mrs x2, pmevcntr0_el0
        mov x9, #3
    1:  subs x9, x9, #1
        b.ne 1b                   // 3: taken, taken, not taken
        cbz x9, 2f                // taken
    2:  cbnz x9, 3f               // not taken
        tbz x9, #0, 3f            // taken
    3:  tbnz x9, #0, 5f           // not taken
        adr x10, 5f
        br x10                    // 1
    5:  bl 6f                     // 1
        b 7f                      // 1
    6:  ret                       // 1
    7:  b.eq 8f                   // taken (Z from the SUBS)
    8:  b.ne 9f                   // not taken
    9:  isb
        mrs x3, pmevcntr0_el0
    """)
    assert r["x3"] - r["x2"] == 3 + 4 + 4 + 2


def test_exception_events_and_el_filtering():
    """EXC_TAKEN (0x09), EXC_RETURN (0x0A) and BR_RETIRED, filtered by EL. An exception is
    counted at the EL it is taken from, an ERET (also a branch: Arm recommends BR_RETIRED count
    exception returns, FEAT_PMUv3p9 requires it) at the EL it executes at.

    EL2 ERETs to EL1 (EXC_RETURN and a branch at EL2); EL1 runs 5 B.NEs, an SVC to EL1 whose
    handler ERETs (a taken exception, an exception return and a branch at EL1), then HVC to EL2
    (taken from EL1).
      counter 0  BR_RETIRED  P, NSH: EL2 only    the EL2 ERET                 1
      counter 1  BR_RETIRED  EL0, EL1            5 B.NE + the EL1 ERET        6
      counter 2  EXC_TAKEN   EL0, EL1            SVC, HVC                     2
      counter 3  EXC_RETURN  NSH: every EL       two ERETs                    2
      counter 4  EXC_TAKEN   P, U, NSH: EL2 only none (HVC is taken from EL1)  0
      counter 5  EXC_RETURN  P: EL0 only         none                         0"""
    P, U, NSH = 1 << 31, 1 << 30, 1 << 27
    r = GicRig()
    r.code(CODE, msr("pmevtyper0_el0", P | NSH | 0x21) + msr("pmevtyper1_el0", 0x21)
           + msr("pmevtyper2_el0", 0x09) + msr("pmevtyper3_el0", NSH | 0x0A)
           + msr("pmevtyper4_el0", P | U | NSH | 0x09) + msr("pmevtyper5_el0", P | 0x0A)
           + msr("pmcntenset_el0", 0x3F) + msr("pmcr_el0", 1)
           + msr("elr_el2", EL1_CODE) + msr("spsr_el2", 0x3C5) + "eret\n")
    r.code(EL1_CODE, "mov x3, #5\n1: subs x3, x3, #1\nb.ne 1b\nsvc #0\nhvc #0\n")
    r.vector(VBAR1, CUR_SPX, "eret\n")
    r.vector(VBAR2, LOWER, "".join(f"mrs x{10 + i}, pmevcntr{i}_el0\n" for i in range(6))
             + "b .\n")
    r.boot(2)
    r.run(200)
    assert r["el"] == 2 and r["pc"] == VBAR2 + LOWER + 4 * 6
    assert [r[f"x{10 + i}"] for i in range(6)] == [1, 6, 2, 2, 0, 0]


def test_br_retired_overflow_raises_ppi_23():
    """A BR_RETIRED counter 3 below 2^32 overflows on the third branch: the interrupt is taken
    right after it (x9 = 97), the counter at 0 (exception entry is not a branch)."""
    handler = """
        mrs x20, icc_iar1_el1
        mrs x21, pmovsset_el0
        mrs x22, pmevcntr2_el0
        mov x23, x9
        msr pmovsclr_el0, x21
        msr icc_eoir1_el1, x20
        b .
    """
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + IRQ, handler)
    r.code(CODE, gic_on(enable=1 << 23) + msr("pmevtyper2_el0", 0x21)
           + msr("pmevcntr2_el0", 0xFFFF_FFFD) + msr("pmintenset_el1", 1 << 2)
           + msr("pmcntenset_el0", 1 << 2) + msr("pmcr_el0", 1) + """
        msr daifclr, #2
        mov x9, #100
    1:  sub x9, x9, #1
        b 1b
    """)
    r.boot(1)
    r.run(500)
    assert r["x20"] == 23 and r["x21"] == 1 << 2
    assert r["x22"] == 0
    assert r["x23"] == 97


def test_exc_taken_overflow_raises_ppi_23():
    """An EXC_TAKEN counter at 2^32 - 1 overflows on the SVC; the interrupt (masked in the
    handler) is taken as soon as the handler's ERET unmasks it; its own entry is an exception
    taken too, so the handler reads 1."""
    r = GicRig()
    r.vector(VBAR1, CUR_SPX, "mov x5, #1\neret\n")
    r.vector(VBAR1, CUR_SPX + IRQ, "mrs x20, icc_iar1_el1\nmrs x21, pmovsset_el0\n"
             "mrs x22, pmevcntr0_el0\nmrs x24, elr_el1\nb .\n")
    r.code(CODE, gic_on(enable=1 << 23) + msr("pmevtyper0_el0", 0x09)
           + msr("pmevcntr0_el0", 0xFFFF_FFFF) + msr("pmintenset_el1", 1)
           + msr("pmcntenset_el0", 1) + msr("pmcr_el0", 1) + """
        msr daifclr, #2
        svc #0
    2:  mov x6, #2
        b .
    """)
    r.boot(1)
    r.run(500)
    assert r["x5"] == 1 and r["x6"] == 0
    assert r["x20"] == 23 and r["x21"] == 1 and r["x22"] == 1
    assert r.m.read_phys(r["x24"], 4) == (0xD280_0046).to_bytes(4, "little")  # mov x6, #2


def test_l1d_tlb_refill_counts_data_walks_that_fill_the_tlb():
    """L1D_TLB_REFILL (0x05): a data access that misses the TLB and walks; a hit is not, an
    instruction fetch's walk is not (the code page is re-walked after the TLBI). After
    TLBI VMALLE1: LDR VA (refill), LDR VA (hit), STR VA2 (refill), LDR VA2 (hit) = 2.
    Counter 1 filters EL1 out (P): 0. Counter 2 (left enabled) starts at 2^32 - 1: the first
    refill overflows it (PMOVSSET_EL0 bit 2), the three refills leave it at 2."""
    from test_tlb import VA, VA2, Rig as TlbRig
    t = TlbRig()
    # no literal pool: Rig.run steps through every word it assembled
    t.run("""
        mov x10, #5
        msr pmevtyper0_el0, x10
        msr pmevtyper2_el0, x10
        movk x10, #0x8000, lsl #16    // P | L1D_TLB_REFILL
        msr pmevtyper1_el0, x10
        mov x10, #0xffffffff
        msr pmevcntr2_el0, x10
        mov x10, #7
        msr pmcntenset_el0, x10
        mov x10, #1
        msr pmcr_el0, x10
        tlbi vmalle1
        dsb sy
        isb
        mrs x5, pmevcntr0_el0
        ldr x0, [x1]
        ldr x0, [x1]
        str x0, [x2]
        ldr x0, [x2]
        mrs x6, pmevcntr0_el0
        msr pmcntenclr_el0, x7
        tlbi vmalle1
        dsb sy
        isb
        ldr x0, [x1]
        mrs x8, pmevcntr0_el0
    """, x1=VA, x2=VA2, x7=1)
    m = t.m
    assert m.reg("x6") - m.reg("x5") == 2
    assert m.reg("x8") == m.reg("x6")          # not counted once disabled
    assert m.reg("PMEVCNTR1_EL0") == 0
    assert m.reg("PMEVCNTR2_EL0") == 2 and m.reg("PMOVSSET_EL0") == 1 << 2
