// machine: a guest that uses the whole machine a PE offers at EL1 — both EL1 timers, the PMU's
// event counters with their overflow interrupt, and the self-hosted debug registers — and
// prints only facts that do not depend on timing or on who runs it: the same on the bare board,
// as a guest of either build of the hypervisor, and (but for the events QEMU does not
// implement, which it reports as such) on qemu-system-aarch64 -M virt,gic-version=3.
//
// 1. Debug registers: the OS lock is locked at reset and OSLAR_EL1 unlocks it; MDSCR_EL1 and
//    every breakpoint and watchpoint register (ID_AA64DFR0_EL1.BRPs/WRPs + 1 of them) read back
//    what was written (values made from SEED, all disabled).
// 2. PMU: at least 4 event counters (PMCR_EL0.N: a guest of armvirt's hypervisor owns 4);
//    SW_INCR counts; an overflow of an event counter by SW_INCR and by CPU_CYCLES, and of the
//    cycle counter, each raise the overflow interrupt (PPI 23) once, with PMOVSSET_EL0 naming the
//    counter; MEM_ACCESS counts a loop's 20 accesses and CHAIN makes a 64-bit pair (when
//    PMCEID0_EL0 advertises them; QEMU does not).
// 3. Timers: the EL1 physical timer (CNTP_*, PPI 30) masked (ISTATUS, no interrupt) and by
//    TVAL; then both timers periodic at once, 10 interrupts each at or after their deadlines,
//    asleep in WFI in between.
// 4. The registers of 1 and 2 still hold what was written, after all that sleeping (under the
//    hypervisor, other VMs on the same PE ran meanwhile: tests/test_hypervisor.py runs two,
//    built with different SEEDs).
//
// `armvirt run build/guests/machine.elf` (--bare, --hv split, --hv direct).

#include "guest.h"

#ifndef SEED
#define SEED        0
#endif

#define NTICKS      10
#define VPERIOD     625                 // counter ticks: 10 us at 62.5 MHz
#define PPERIOD     1000
#define PPI_PMU     23
#define PPI_VTIMER  27
#define PPI_PTIMER  30

#define GICD_CTLR       0x0000
#define GICR_WAKER      0x0014
#define GICR_SGI        0x10000

#define CTL_ENABLE  1
#define CTL_IMASK   2

#define EVT_SW_INCR     0x00
#define EVT_CPU_CYCLES  0x11
#define EVT_MEM_ACCESS  0x13
#define EVT_CHAIN       0x1E

#define BCR_VALUE   ((0xF << 5) | (3 << 1))             // BAS all, PMC EL1+EL0, E = 0
#define WCR_VALUE   ((0xFF << 5) | (3 << 3) | (3 << 1)) // BAS all, loads+stores, EL1+EL0, E = 0
#define MDSCR_MDE   (1 << 15)

    .global _start
    .type   _start, %function
_start:
    ldr     x0, =stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    ldr     x1, =GICD_BASE              // the GIC: Group 1 on, PPIs 23, 27, 30 in Group 1
    mov     w2, #2
    str     w2, [x1, #GICD_CTLR]
    ldr     x1, =GICR_BASE
    str     wzr, [x1, #GICR_WAKER]
1:  ldr     w2, [x1, #GICR_WAKER]
    tbnz    w2, #2, 1b
    add     x1, x1, #GICR_SGI
    ldr     w2, =((1 << PPI_PMU) | (1 << PPI_VTIMER) | (1 << PPI_PTIMER))
    str     w2, [x1, #0x80]             // GICR_IGROUPR0
    str     w2, [x1, #0x100]            // GICR_ISENABLER0
    mov     w2, #0x80
    strb    w2, [x1, #(0x400 + PPI_PMU)]      // GICR_IPRIORITYR
    strb    w2, [x1, #(0x400 + PPI_VTIMER)]
    strb    w2, [x1, #(0x400 + PPI_PTIMER)]
    mov     x2, #0xff
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    msr     daifclr, #2                 // interrupts on from here

    // --- 1. debug registers
    mrs     x19, oslsr_el1
    msr     oslar_el1, xzr
    isb
    mrs     x20, oslsr_el1
    say     "machine: os lock locked at reset: "
    ubfx    x0, x19, #1, #1
    bl      putyes
    say     ", unlocked by oslar: "
    ubfx    x0, x20, #1, #1
    eor     x0, x0, #1
    bl      putyes
    bl      newline
    bl      debug_write
    bl      debug_check
    mov     x19, x0
    say     "machine: mdscr and every breakpoint and watchpoint register read back: "
    mov     x0, x19
    bl      putyes
    bl      newline

    // --- 2. PMU
    mrs     x0, pmcr_el0
    ubfx    x0, x0, #11, #5
    cmp     x0, #4
    cset    x0, hs
    mov     x19, x0
    say     "machine: pmu: at least 4 event counters: "
    mov     x0, x19
    bl      putyes
    bl      newline
    msr     pmevtyper0_el0, xzr         // SW_INCR
    msr     pmevcntr0_el0, xzr
    mov     x0, #1
    msr     pmcntenset_el0, x0
    mov     x0, #1                      // PMCR_EL0.E
    msr     pmcr_el0, x0
    isb
    mov     x0, #1
    msr     pmswinc_el0, x0
    msr     pmswinc_el0, x0
    msr     pmswinc_el0, x0
    mrs     x19, pmevcntr0_el0
    say     "machine: pmu: sw_incr counted "
    mov     x0, x19
    bl      putdec
    bl      newline

    // an event counter overflowing by SW_INCR: counter 1 at 0xffffffff
    msr     pmevtyper1_el0, xzr
    mov     x0, #0xFFFFFFFF
    msr     pmevcntr1_el0, x0
    mov     x0, #2
    msr     pmintenset_el1, x0
    msr     pmcntenset_el0, x0
    isb
    msr     pmswinc_el0, x0
    isb
    bl      wait_pmu_irq
    say     "machine: pmu: sw_incr overflow of counter 1: "
    bl      report_pmu_irq
    say     ", counter "
    mrs     x0, pmevcntr1_el0
    bl      putdec
    bl      newline
    mov     x0, #2
    msr     pmintenclr_el1, x0
    msr     pmcntenclr_el0, x0

    // an event counter overflowing by CPU_CYCLES: counter 2, 256 cycles before 2^32
    mov     x0, #EVT_CPU_CYCLES
    msr     pmevtyper2_el0, x0
    mov     x0, #0xFFFFFF00
    msr     pmevcntr2_el0, x0
    mov     x0, #4
    msr     pmintenset_el1, x0
    msr     pmcntenset_el0, x0
    isb
    bl      wait_pmu_irq
    say     "machine: pmu: cpu_cycles overflow of counter 2: "
    bl      report_pmu_irq
    bl      newline
    mov     x0, #4
    msr     pmintenclr_el1, x0
    msr     pmcntenclr_el0, x0

    // the cycle counter overflowing (bit 31 of PMCCNTR_EL0 with PMCR_EL0.LC = 0)
    mov     x0, #0xFFFFFF00
    msr     pmccntr_el0, x0
    mov     x0, #(1 << 31)
    msr     pmintenset_el1, x0
    msr     pmcntenset_el0, x0
    isb
    bl      wait_pmu_irq
    say     "machine: pmu: cycle counter overflow: "
    bl      report_pmu_irq
    bl      newline
    mov     x0, #(1 << 31)
    msr     pmintenclr_el1, x0

    // MEM_ACCESS: counter 3 over a loop of 10 loads and 10 stores
    mrs     x0, pmceid0_el0
    tbnz    x0, #EVT_MEM_ACCESS, 1f
    say     "machine: pmu: mem_access not implemented"
    b       2f
1:  mov     x0, #EVT_MEM_ACCESS
    msr     pmevtyper3_el0, x0
    msr     pmevcntr3_el0, xzr
    ldr     x2, =scratch
    mov     x3, #10
    mov     x0, #8
    msr     pmcntenset_el0, x0
    isb
3:  ldr     x1, [x2]
    str     x1, [x2, #8]
    subs    x3, x3, #1
    b.ne    3b
    msr     pmcntenclr_el0, x0
    isb
    say     "machine: pmu: mem_access counted "
    mrs     x0, pmevcntr3_el0
    bl      putdec
2:  bl      newline

    // CHAIN: counter 1 counts the overflows of counter 0 (SW_INCR from 0xfffffffe)
    mrs     x0, pmceid0_el0
    tbnz    x0, #EVT_CHAIN, 1f
    say     "machine: pmu: chain not implemented"
    b       2f
1:  mov     x0, #0xFFFFFFFE
    msr     pmevcntr0_el0, x0
    mov     x0, #EVT_CHAIN
    msr     pmevtyper1_el0, x0
    mov     x0, #5
    msr     pmevcntr1_el0, x0
    mov     x0, #3
    msr     pmovsclr_el0, x0
    msr     pmcntenset_el0, x0
    isb
    mov     x0, #1
    msr     pmswinc_el0, x0
    msr     pmswinc_el0, x0
    msr     pmswinc_el0, x0
    mov     x0, #3
    msr     pmcntenclr_el0, x0
    say     "machine: pmu: chain: low "
    mrs     x0, pmevcntr0_el0
    bl      putdec
    say     ", high "
    mrs     x0, pmevcntr1_el0
    bl      putdec
    say     ", pmovsset "
    mrs     x0, pmovsset_el0
    and     x0, x0, #3
    bl      puthex
2:  bl      newline
    bl      pmu_write                   // registers to find again at the end

    // --- 3. the physical timer, masked, then by TVAL
    mrs     x0, cntpct_el0
    add     x19, x0, #(PPERIOD / 4)
    msr     cntp_cval_el0, x19
    mov     x0, #(CTL_ENABLE | CTL_IMASK)
    msr     cntp_ctl_el0, x0
    isb
1:  mrs     x0, cntpct_el0
    sub     x1, x0, x19
    cmp     x1, #(PPERIOD / 2)
    b.lt    1b
    mrs     x20, cntp_ctl_el0
    msr     cntp_ctl_el0, xzr
    isb
    say     "machine: ptimer masked: istatus "
    ubfx    x0, x20, #2, #1
    bl      putdec
    say     ", interrupts "
    ldr     x0, =pticks
    ldr     x0, [x0]
    bl      putdec
    bl      newline
    mrs     x19, cntpct_el0
    mov     x0, #PPERIOD
    msr     cntp_tval_el0, x0
    mrs     x20, cntpct_el0
    mrs     x21, cntp_cval_el0
    add     x19, x19, #PPERIOD
    add     x20, x20, #PPERIOD
    cmp     x21, x19
    cset    x22, hs
    cmp     x21, x20
    cset    x0, ls
    and     x22, x22, x0
    say     "machine: ptimer tval sets cval = cntpct + tval: "
    mov     x0, x22
    bl      putyes
    bl      newline

    // both timers periodic at once, asleep in between
    mrs     x0, cntvct_el0
    add     x0, x0, #VPERIOD
    msr     cntv_cval_el0, x0
    mrs     x0, cntpct_el0
    add     x0, x0, #PPERIOD
    msr     cntp_cval_el0, x0
    mov     x0, #CTL_ENABLE
    msr     cntv_ctl_el0, x0
    msr     cntp_ctl_el0, x0
    isb
    ldr     x19, =vticks
    ldr     x20, =pticks
1:  msr     daifset, #2                 // check, then sleep, without missing the wake-up
    ldr     x0, [x19]
    ldr     x1, [x20]
    cmp     x0, #NTICKS
    ccmp    x1, #NTICKS, #0, hs
    b.hs    2f
    wfi
    msr     daifclr, #2
    b       1b
2:  msr     daifclr, #2
    say     "machine: timers: "
    ldr     x0, [x19]
    bl      putdec
    say     " virtual and "
    ldr     x0, [x20]
    bl      putdec
    say     " physical interrupts, each at or after its deadline: "
    ldr     x0, =vlate_ok
    ldr     x0, [x0]
    ldr     x1, =plate_ok
    ldr     x1, [x1]
    cmp     x0, #NTICKS
    ccmp    x1, #NTICKS, #0, eq
    cset    x0, eq
    bl      putyes
    say     ", timers off: "
    mrs     x0, cntv_ctl_el0
    mrs     x1, cntp_ctl_el0
    orr     x0, x0, x1
    cmp     x0, #0
    cset    x0, eq
    bl      putyes
    bl      newline

    // --- 4. what was written in 1 and 2 is still there
    bl      debug_check
    mov     x19, x0
    say     "machine: debug registers kept: "
    mov     x0, x19
    bl      putyes
    bl      newline
    bl      pmu_check
    mov     x19, x0
    say     "machine: pmu registers kept: "
    mov     x0, x19
    bl      putyes
    bl      newline
    say     "machine: done"
    bl      newline
    b       system_off

// ---------------------------------------------------------------------------- debug registers
// x2 = n, x3 = the value for breakpoint n / watchpoint n
.macro bvr_value n
    ldr     x3, =(0x40000000 + (SEED << 16) + \n * 4)
.endm
.macro wvr_value n
    ldr     x3, =(0x40200000 + (SEED << 16) + \n * 8)
.endm

// debug_write: MDSCR_EL1.MDE and every breakpoint and watchpoint (disabled)
debug_write:
    ldr     x0, =(MDSCR_MDE)
    msr     mdscr_el1, x0
    mrs     x4, id_aa64dfr0_el1
    ubfx    x5, x4, #12, #4             // BRPs - 1
    ubfx    x6, x4, #20, #4             // WRPs - 1
    mov     x7, #BCR_VALUE
    ldr     x8, =WCR_VALUE
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    cmp     x5, #\n
    b.lo    1f
    bvr_value \n
    msr     dbgbvr\n\()_el1, x3
    msr     dbgbcr\n\()_el1, x7
1:  cmp     x6, #\n
    b.lo    2f
    wvr_value \n
    msr     dbgwvr\n\()_el1, x3
    msr     dbgwcr\n\()_el1, x8
2:
    .endr
    isb
    ret

// debug_check -> x0 = 1 if MDSCR_EL1.MDE and every breakpoint and watchpoint register hold
// what debug_write put there
debug_check:
    mov     x0, #1
    mrs     x1, mdscr_el1
    ldr     x2, =(MDSCR_MDE)
    cmp     x1, x2
    csel    x0, xzr, x0, ne
    mrs     x4, id_aa64dfr0_el1
    ubfx    x5, x4, #12, #4
    ubfx    x6, x4, #20, #4
    mov     x7, #BCR_VALUE
    ldr     x8, =WCR_VALUE
    .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    cmp     x5, #\n
    b.lo    1f
    bvr_value \n
    mrs     x1, dbgbvr\n\()_el1
    cmp     x1, x3
    csel    x0, xzr, x0, ne
    mrs     x1, dbgbcr\n\()_el1
    cmp     x1, x7
    csel    x0, xzr, x0, ne
1:  cmp     x6, #\n
    b.lo    2f
    wvr_value \n
    mrs     x1, dbgwvr\n\()_el1
    cmp     x1, x3
    csel    x0, xzr, x0, ne
    mrs     x1, dbgwcr\n\()_el1
    cmp     x1, x8
    csel    x0, xzr, x0, ne
2:
    .endr
    ret

// ---------------------------------------------------------------------------- PMU
// pmu_write: a stopped counter's value, an event type with filters, and PMSELR_EL0
pmu_write:
    ldr     x0, =(0x1000 + SEED)
    msr     pmevcntr3_el0, x0
    ldr     x0, =((1 << 30) | EVT_SW_INCR)      // U: not at EL0
    msr     pmevtyper3_el0, x0
    mov     x0, #(1 + SEED % 3)
    msr     pmselr_el0, x0
    isb
    ret

// pmu_check -> x0 = 1 if they are still there
pmu_check:
    mov     x0, #1
    mrs     x1, pmevcntr3_el0
    ldr     x2, =(0x1000 + SEED)
    cmp     x1, x2
    csel    x0, xzr, x0, ne
    mrs     x1, pmevtyper3_el0
    ldr     x2, =((1 << 30) | EVT_SW_INCR)
    cmp     x1, x2
    csel    x0, xzr, x0, ne
    mrs     x1, pmselr_el0
    cmp     x1, #(1 + SEED % 3)
    csel    x0, xzr, x0, ne
    ret

// wait_pmu_irq: until the PMU's interrupt handler has run once more
wait_pmu_irq:
    ldr     x1, =pmu_irqs
    ldr     x2, =pmu_seen
    ldr     x3, [x2]
1:  ldr     x0, [x1]
    cmp     x0, x3
    b.eq    1b
    str     x0, [x2]
    ret

// report_pmu_irq: "interrupt <INTID>, pmovsset <what the handler found>"
report_pmu_irq:
    stp     x29, x30, [sp, #-16]!
    say     "interrupt "
    ldr     x0, =pmu_intid
    ldr     x0, [x0]
    bl      putdec
    say     ", pmovsset "
    ldr     x0, =pmu_ovs
    ldr     x0, [x0]
    bl      puthex
    ldp     x29, x30, [sp], #16
    ret

// putyes(x0 = 0 or 1): "no" / "yes"
putyes:
    cbz     x0, 1f
    adr     x0, s_yes
    b       puts
1:  adr     x0, s_no
    b       puts
s_yes:  .asciz "yes"
s_no:   .asciz "no"
    .balign 4

// ---------------------------------------------------------------------------- interrupts
irq_handler:
    stp     x0, x1, [sp, #-48]!
    stp     x2, x3, [sp, #16]
    stp     x4, x30, [sp, #32]
    mrs     x0, icc_iar1_el1
    .global machine_acked               // (for tests/test_guest_machine.py: the list
machine_acked:                          // registers after the acknowledge, after the EOI)
    cmp     x0, #PPI_PMU
    b.ne    1f
    ldr     x1, =pmu_intid              // the PMU: which counters overflowed; clear them
    str     x0, [x1]
    mrs     x2, pmovsset_el0
    ldr     x1, =pmu_ovs
    str     x2, [x1]
    msr     pmovsclr_el0, x2
    ldr     x1, =pmu_irqs
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
    b       8f
1:  cmp     x0, #PPI_VTIMER
    b.ne    2f
    ldr     x1, =vticks
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
    mrs     x3, cntv_cval_el0
    mrs     x4, cntvct_el0
    cmp     x4, x3
    b.lo    11f
    mrs     x4, cntv_ctl_el0
    tbz     x4, #2, 11f
    ldr     x1, =vlate_ok
    ldr     x4, [x1]
    add     x4, x4, #1
    str     x4, [x1]
11: cmp     x2, #NTICKS
    b.hs    12f
    add     x3, x3, #VPERIOD
    msr     cntv_cval_el0, x3
    b       8f
12: msr     cntv_ctl_el0, xzr
    b       8f
2:  cmp     x0, #PPI_PTIMER
    b.ne    8f
    ldr     x1, =pticks
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
    mrs     x3, cntp_cval_el0
    mrs     x4, cntpct_el0
    cmp     x4, x3
    b.lo    21f
    mrs     x4, cntp_ctl_el0
    tbz     x4, #2, 21f
    ldr     x1, =plate_ok
    ldr     x4, [x1]
    add     x4, x4, #1
    str     x4, [x1]
21: cmp     x2, #NTICKS
    b.hs    22f
    add     x3, x3, #PPERIOD
    msr     cntp_cval_el0, x3
    b       8f
22: msr     cntp_ctl_el0, xzr
8:  isb
    cmp     x0, #1020
    b.hs    9f
    msr     icc_eoir1_el1, x0
    .global machine_eoied
    .type   machine_eoied, %function
machine_eoied:
9:  ldp     x4, x30, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp], #48
    eret

    irq_only_vectors machine, irq_handler

#include "guest_lib.S"
    .ltorg

    .balign 64
vticks:     .quad 0
pticks:     .quad 0
vlate_ok:   .quad 0
plate_ok:   .quad 0
pmu_irqs:   .quad 0
pmu_seen:   .quad 0
pmu_intid:  .quad 0
pmu_ovs:    .quad 0
scratch:    .quad 0, 0
    .balign 16
    .space  4096
stack_top:
