"""The Generic Timer and the machine's time: guests that program the EL1 virtual and physical
timers and the EL2 physical timer, take their interrupts through the GIC, and sleep in WFI.

Expected values come from the Arm ARM (D11.2 "The AArch64 view of the Generic Timer"): the
counter ticks at CNTFRQ_EL0 = 62.5 MHz, i.e. every 16 cycles of the 1 GHz emulated clock
(``armvirt.costs``); CNTVCT = CNTPCT - CNTVOFF_EL2; TVAL reads CVAL - count (32 bits) and a
write sets CVAL = count + SignExtend(TVAL); CTL.ISTATUS = ENABLE && count >= CVAL; the outputs
are PPIs 30 (CNTP), 27 (CNTV) and 26 (CNTHP), level-sensitive (Arm BSA).
"""
from __future__ import annotations

import pytest

from armvirt import layout as L
from test_exceptions import sysreg_iss as iss
from gicrig import (CODE, CUR_SPX, DATA, IRQ, LOWER, VBAR1, VBAR2, GicRig, gic_on, gicr,
                    GICR_ISPENDR0, r32)

TICK = 16                      # cycles per counter tick
EC_SYS = 0x18
HCR_RW = 1 << 31
EL1H_MASKED = 0x3C5
EL0T = 0
EL1_CODE = 0x4000_5000
EL0_CODE = 0x4000_6000



def el2_then_el1(el2_src: str, el1_src: str, smp: int = 1) -> GicRig:
    """EL2 runs el2_src, then ERETs to el1_src at EL1h with every interrupt masked."""
    r = GicRig(smp=smp)
    r.code(CODE, el2_src + f"ldr x28, ={EL1_CODE:#x}\nmsr elr_el2, x28\n"
           f"mov x28, #{EL1H_MASKED:#x}\nmsr spsr_el2, x28\neret\n")
    r.code(EL1_CODE, el1_src + "b .\n")
    r.boot(2)
    return r


def test_counter_is_the_cycle_count_at_62_5_mhz():
    r = GicRig()
    r.code(CODE, "mrs x1, cntfrq_el0\nmrs x2, cntpct_el0\nmov x3, #200\n"
           "1: subs x3, x3, #1\nb.ne 1b\nmrs x4, cntpct_el0\nb .\n")
    r.boot(1)
    r.run(500)
    assert r["x1"] == 62_500_000
    # 2 instructions x 200 iterations + the mov: 401 cycles between the two reads
    assert r["x4"] - r["x2"] in (401 // TICK, 401 // TICK + 1)
    assert r.m.reg("CNTPCT_EL0") == r["cycles"] // TICK


def test_cntvoff_is_seen_by_el1():
    off = 0x12_3456
    r = el2_then_el1(f"ldr x1, ={off:#x}\nmsr cntvoff_el2, x1\n",
                     "mrs x2, cntvct_el0\nmrs x3, cntpct_el0\nmrs x4, cntvct_el0\n")
    r.run(20)
    assert r["el"] == 1
    assert r["x3"] < off                       # so CNTVCT = CNTPCT - CNTVOFF wraps (64 bits)
    vct = (r["x3"] - off) % (1 << 64)
    assert vct - r["x2"] in (0, 1) and r["x4"] - vct in (0, 1)


def test_tval_cval_and_istatus():
    r = GicRig()
    r.code(CODE, """
        mov x1, #100
        msr cntv_tval_el0, x1          // CVAL = CNTVCT + 100
        mrs x2, cntv_cval_el0
        mrs x3, cntvct_el0
        mrs x4, cntv_ctl_el0           // disabled: ISTATUS 0
        mov x1, #1
        msr cntv_ctl_el0, x1
        mrs x5, cntv_ctl_el0           // enabled, not yet: 1
        mov x6, #2000
    1:  subs x6, x6, #1
        b.ne 1b
        mrs x7, cntv_ctl_el0           // expired: ENABLE | ISTATUS
        mrs x8, cntv_tval_el0          // negative, as a 32-bit value
        mrs x9, cntvct_el0
        mov x1, #0xffffffff            // TVAL = -1: CVAL = count - 1, condition met
        msr cntv_tval_el0, x1
        mrs x10, cntv_cval_el0
        mrs x11, cntvct_el0
        mov x1, #3
        msr cntv_ctl_el0, x1           // IMASK: ISTATUS still shows the condition
        mrs x12, cntv_ctl_el0
        b .
    """)
    r.boot(1)
    r.run(5000)
    assert r["x2"] - r["x3"] in (100, 99)      # CVAL = count at the write + 100
    assert r["x4"] == 0 and r["x5"] == 1
    assert r["x7"] == 0b101
    assert r["x8"] in ((r["x2"] - r["x9"]) & 0xFFFF_FFFF, (r["x2"] - r["x9"] + 1) & 0xFFFF_FFFF)
    assert r["x8"] >> 31 == 1
    assert r["x11"] - r["x10"] in (1, 2)
    assert r["x12"] == 0b111


# The periodic timer guest: PPI 27 (CNTV) every PERIOD ticks, five times, sleeping in WFI
# between; the handler logs CNTVCT and the CVAL it is answering.
PERIOD = 10_000
PERIODIC_HANDLER = """
    mrs x20, icc_iar1_el1
    add x23, x23, #1
    mrs x21, cntvct_el0
    mrs x22, cntv_cval_el0
    stp x21, x22, [x24], #16
    add x22, x22, x25
    msr cntv_cval_el0, x22
    msr icc_eoir1_el1, x20
    eret
"""


def periodic_main(timer: str = "cntv", count: str = "cntvct_el0", ppi: int = 27) -> str:
    return gic_on(enable=1 << ppi) + f"""
        mov x23, #0
        ldr x24, ={DATA:#x}
        ldr x25, ={PERIOD}
        mrs x1, {count}
        add x1, x1, x25
        msr {timer}_cval_el0, x1
        mov x1, #1
        msr {timer}_ctl_el0, x1
        msr daifclr, #2
    1:  wfi
        cmp x23, #5
        b.lt 1b
        msr daifset, #2
        msr {timer}_ctl_el0, xzr
        b .
    """


def test_periodic_virtual_timer_interrupts_at_el1_with_wfi_sleep():
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + IRQ, PERIODIC_HANDLER)
    r.code(CODE, periodic_main())
    r.boot(1)
    info = r.run(1000)
    assert r["x23"] == 5
    log = [int.from_bytes(r.m.read_phys(DATA + 8 * i, 8), "little") for i in range(10)]
    for i in range(5):
        now, cval = log[2 * i], log[2 * i + 1]
        assert 0 <= now - cval <= 2          # taken within a couple of ticks of the deadline
        if i:
            assert cval - log[2 * i - 1] == PERIOD
    assert r["x20"] == 27
    # 50,000 ticks went by (800,000 cycles) while fewer than 1,000 instructions ran: the PE
    # slept in WFI and the machine's time skipped to each deadline.
    assert r["cycles"] >= 5 * PERIOD * TICK
    assert info.instructions == 1000 and r["instret"] == 1000


def test_el1_physical_timer_fires_ppi_30():
    r = GicRig()
    r.vector(VBAR1, CUR_SPX + IRQ, PERIODIC_HANDLER.replace("cntv_cval", "cntp_cval")
             .replace("cntvct", "cntpct"))
    r.code(CODE, periodic_main("cntp", "cntpct_el0", 30))
    r.boot(1)
    r.run(1000)
    assert r["x23"] == 5 and r["x20"] == 30


def test_el2_physical_timer_fires_ppi_26_at_el2():
    r = GicRig()
    handler = PERIODIC_HANDLER.replace("cntv_cval_el0", "cnthp_cval_el2") \
        .replace("cntvct", "cntpct")
    r.vector(VBAR2, CUR_SPX + IRQ, handler)
    main = periodic_main("cnthp", "cntpct_el0", 26).replace("cnthp_cval_el0", "cnthp_cval_el2") \
        .replace("cnthp_ctl_el0", "cnthp_ctl_el2")
    r.code(CODE, main)
    r.boot(2, HCR_EL2=HCR_RW | (1 << 4))      # IMO: physical IRQs are EL2's
    r.run(1000)
    assert r["x23"] == 5 and r["x20"] == 26 and r["el"] == 2


def test_masked_timer_asserts_nothing_and_unmasking_does():
    r = GicRig()
    r.code(CODE, gic_on(enable=1 << 27) + """
        mov x1, #3                    // ENABLE | IMASK
        msr cntv_ctl_el0, x1
        msr cntv_cval_el0, xzr        // already expired
        mrs x2, isr_el1
        mrs x3, cntv_ctl_el0
    """ + r32("4", gicr(0, GICR_ISPENDR0)) + """
        mov x1, #1                    // unmask
        msr cntv_ctl_el0, x1
        mrs x5, isr_el1
    """ + r32("6", gicr(0, GICR_ISPENDR0)) + "mrs x7, icc_iar1_el1\nb .\n")
    r.boot(1)
    r.run(200)
    assert r["x2"] == 0 and r["x3"] == 0b111 and r["x4"] == 0
    assert r["x5"] == 1 << 7 and r["x6"] == 1 << 27 and r["x7"] == 27


def test_cnthctl_traps_the_physical_timer_and_counter_at_el1():
    r = el2_then_el1("msr cnthctl_el2, xzr\n", "mrs x2, cntv_ctl_el0\nmrs x3, cntp_ctl_el0\n")
    r.run(30)
    assert r["el"] == 2 and r["pc"] == VBAR2 + LOWER
    assert r["ESR_EL2"] == (EC_SYS << 26) | (1 << 25) | iss(3, 3, 14, 2, 1, 3, True)
    assert r["ELR_EL2"] == EL1_CODE + 4        # the CNTV access went through

    r = el2_then_el1("mov x1, #2\nmsr cnthctl_el2, x1\n",     # EL1PCEN only
                     "mrs x3, cntp_ctl_el0\nmrs x4, cntpct_el0\n")
    r.run(30)
    assert r["ELR_EL2"] == EL1_CODE + 4
    assert r["ESR_EL2"] == (EC_SYS << 26) | (1 << 25) | iss(3, 3, 14, 0, 1, 4, True)


@pytest.mark.parametrize("cntkctl, trapped", [(0, True), (1 << 8, False)])
def test_cntkctl_el0vten_gates_el0_access_to_the_virtual_timer(cntkctl, trapped):
    r = GicRig()
    r.code(CODE, f"ldr x1, ={cntkctl:#x}\nmsr cntkctl_el1, x1\nmsr spsr_el1, xzr\n"
           f"ldr x1, ={EL0_CODE:#x}\nmsr elr_el1, x1\neret\n")
    r.code(EL0_CODE, "mrs x2, cntv_ctl_el0\nmov x3, #1\nb .\n")
    r.boot(1)
    r.run(30)
    if trapped:
        assert r["pc"] == VBAR1 + LOWER and r["ELR_EL1"] == EL0_CODE
        assert r["ESR_EL1"] == (EC_SYS << 26) | (1 << 25) | iss(3, 3, 14, 3, 1, 2, True)
    else:
        assert r["x3"] == 1 and r["el"] == 0


def test_wfi_with_nothing_to_wake_is_idle_and_a_far_deadline_is_reached_at_once():
    r = GicRig()
    r.code(CODE, "wfi\nb .\n")
    r.boot(1)
    assert r.run(100).reason == "idle"
    # one second away: 62.5 M ticks; the run skips straight to it
    r = GicRig()
    r.code(CODE, gic_on(enable=1 << 27) + """
        ldr x1, =62500000
        msr cntv_tval_el0, x1
        mrs x2, cntv_cval_el0
        mov x1, #1
        msr cntv_ctl_el0, x1
        wfi
        mrs x3, cntvct_el0
        b .
    """)
    r.boot(1)
    info = r.run(100)
    assert info.reason == "budget" and r["x3"] >= r["x2"]
    assert r["x3"] - r["x2"] <= 1
    assert 10 ** 9 <= r["cycles"] < 10 ** 9 + 1000


def test_a_sleeping_pe_keeps_machine_time():
    """PE1 sleeps in WFI (no deadline) while PE0 works; PE0 wakes it with an SGI after about
    30,000 cycles. PE1's counter then reads PE0's time, not the time it fell asleep."""
    r = GicRig(smp=2)
    r.code(CODE, gic_on(0) + f"""
        ldr x9, ={DATA:#x}
    1:  ldr x10, [x9]
        cbz x10, 1b                   // wait until PE1 is set up
        mov x1, #15000
    2:  subs x1, x1, #1
        b.ne 2b
        mrs x5, cntpct_el0
        ldr x4, ={1 << 24 | 0b10:#x}  // SGI 1 to PE1
        msr icc_sgi1r_el1, x4
        b .
    """)
    r.code(CODE + 0x800, gic_on(1, enable=1 << 1, distributor=False) + f"""
        mrs x5, cntpct_el0
        ldr x9, ={DATA:#x}
        mov x10, #1
        str x10, [x9]
        wfi
        mrs x6, cntpct_el0
        b .
    """)
    r.boot(1)
    r.boot(1, entry=CODE + 0x800, pe=1)
    r.run(60_000)
    asleep_at, woke_at, sent_at = r.reg("x5", 1), r.reg("x6", 1), r.reg("x5", 0)
    assert sent_at - asleep_at > 30_000 // TICK - 200
    assert abs(woke_at - sent_at) <= 1000 // TICK + 1     # within one quantum of PE0's time
    assert abs(r.reg("cycles", 0) - r.reg("cycles", 1)) <= 1000 + 100


def test_when_every_pe_sleeps_time_skips_to_each_deadline():
    """Two PEs asleep in WFI with their virtual timers due at different times, far away: the
    machine's time jumps to the first deadline (PE1 wakes), then to the second (PE0 wakes);
    each wakes on the tick it asked for, and hardly any instruction runs meanwhile."""
    r = GicRig(smp=2)
    for pe, ticks in ((0, 3_000_000), (1, 1_000_000)):
        r.code(CODE + 0x800 * pe, gic_on(pe, enable=1 << 27, distributor=(pe == 0)) + f"""
            ldr x1, ={ticks}
            msr cntv_tval_el0, x1
            mrs x2, cntv_cval_el0
            mov x1, #1
            msr cntv_ctl_el0, x1
            wfi
            mrs x3, cntvct_el0
            msr cntv_ctl_el0, xzr     // the timer's level stays high until it is disabled
            wfi
            b .
        """)
        r.boot(1, entry=CODE + 0x800 * pe, pe=pe)
    info = r.run(400)
    assert info.reason == "idle"           # both asleep again, no deadline left
    for pe in range(2):
        assert 0 <= r.reg("x3", pe) - r.reg("x2", pe) <= 1, pe
    armed = [r.reg("x2", pe) - ticks for pe, ticks in ((0, 3_000_000), (1, 1_000_000))]
    assert abs(armed[0] - armed[1]) < 80                      # armed at about the same time
    assert abs(r.reg("x3", 0) - r.reg("x3", 1) - 2_000_000) < 80
    assert info.instructions < 200
