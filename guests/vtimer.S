// vtimer: the EL1 virtual timer (CNTV_*, PPI 27 through the GICv3), as a guest sees it.
//
// 1. A masked timer (CNTV_CTL.IMASK) reaches its deadline: ISTATUS says so, no interrupt.
// 2. TVAL: a write sets CVAL = CNTVCT + TVAL (checked against the counter read around it).
// 3. NTICKS periodic interrupts, PERIOD counter ticks apart, sleeping in WFI in between: each
//    handler finds the timer condition met (CNTVCT >= CVAL) and moves CVAL one period on.
// 4. A deadline already in the past when the timer is enabled fires at once (the WFI after it
//    returns with the interrupt taken).
// 5. The handler disables the timer itself: no interrupt after that, while time goes on.
// Only facts that do not depend on timing are printed: the output is the same on
// qemu-system-aarch64 -M virt,gic-version=3 and under armvirt's hypervisor (compared in
// tests/test_hypervisor.py). Under the hypervisor every interrupt is the physical PPI 27 of the
// vCPU's PE handed to the guest in a list register (HW = 1), and the guest's EOI deactivates it.
//
// `armvirt run build/guests/vtimer.elf`; several at once on one PE
// (`--vm build/guests/vtimer.elf,pin=0 --vm build/guests/vtimer.elf,pin=0`) share the PE: the
// hypervisor switches their timers with them and wakes the one blocked in WFI whose deadline
// comes first.

#include "guest.h"

#define NTICKS      10
#define PERIOD      625                 // counter ticks: 10 us at 62.5 MHz
#define PPI_VTIMER  27

#define GICD_CTLR       0x0000
#define GICR_WAKER      0x0014
#define GICR_SGI        0x10000

#define CTL_ENABLE  1
#define CTL_IMASK   2
#define CTL_ISTATUS 4

    .global _start
    .type   _start, %function
_start:
    ldr     x0, =stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    ldr     x1, =GICD_BASE              // the GIC: Group 1 on, PPI 27 enabled in Group 1
    mov     w2, #2
    str     w2, [x1, #GICD_CTLR]
    ldr     x1, =GICR_BASE
    str     wzr, [x1, #GICR_WAKER]
1:  ldr     w2, [x1, #GICR_WAKER]
    tbnz    w2, #2, 1b
    add     x1, x1, #GICR_SGI
    mov     w2, #(1 << PPI_VTIMER)
    str     w2, [x1, #0x80]             // GICR_IGROUPR0
    str     w2, [x1, #0x100]            // GICR_ISENABLER0
    mov     w2, #0x80
    strb    w2, [x1, #(0x400 + PPI_VTIMER)]   // GICR_IPRIORITYR
    mov     x2, #0xff
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    msr     daifclr, #2                 // interrupts on from here

    // --- 1. masked: the condition is met, ISTATUS = 1, nothing is taken
    mrs     x0, cntvct_el0
    add     x19, x0, #(PERIOD / 4)
    msr     cntv_cval_el0, x19
    mov     x0, #(CTL_ENABLE | CTL_IMASK)
    msr     cntv_ctl_el0, x0
    isb
1:  mrs     x0, cntvct_el0
    sub     x1, x0, x19
    cmp     x1, #(PERIOD / 2)           // well past the deadline (signed: before it,
    b.lt    1b                          // the difference is negative)
    mrs     x20, cntv_ctl_el0
    isb
    msr     cntv_ctl_el0, xzr
    say     "vtimer: masked timer: istatus "
    ubfx    x0, x20, #2, #1
    bl      putdec
    say     ", interrupts "
    ldr     x0, =ticks
    ldr     x0, [x0]
    bl      putdec
    bl      newline

    // --- 2. TVAL
    mrs     x19, cntvct_el0
    mov     x0, #PERIOD
    msr     cntv_tval_el0, x0
    mrs     x20, cntvct_el0
    mrs     x21, cntv_cval_el0
    add     x19, x19, #PERIOD
    add     x20, x20, #PERIOD
    cmp     x21, x19
    cset    x22, hs
    cmp     x21, x20
    cset    x0, ls
    and     x22, x22, x0
    mrs     x0, cntv_tval_el0           // counting down: at most what was written (a signed
    sxtw    x0, w0                      // 32-bit value: negative once the deadline passed)
    cmp     x0, #PERIOD
    cset    x0, le
    and     x22, x22, x0
    say     "vtimer: tval sets cval = cntvct + tval: "
    mov     x0, x22
    bl      putyes
    bl      newline

    // --- 3. periodic interrupts, asleep in between
    mrs     x0, cntvct_el0
    add     x0, x0, #PERIOD
    msr     cntv_cval_el0, x0
    mov     x0, #CTL_ENABLE
    msr     cntv_ctl_el0, x0
    isb
    ldr     x19, =ticks
1:  msr     daifset, #2                 // check, then sleep, without missing the wake-up
    ldr     x0, [x19]
    cmp     x0, #NTICKS
    b.hs    2f
    wfi
    msr     daifclr, #2
    b       1b
2:  msr     daifclr, #2
    say     "vtimer: "
    ldr     x0, [x19]
    bl      putdec
    say     " periodic interrupts, each at or after its deadline: "
    ldr     x0, =late_ok
    ldr     x0, [x0]
    cmp     x0, #NTICKS
    cset    x0, eq
    bl      putyes
    say     ", deadlines one period apart: "
    ldr     x0, =period_ok              // (every interrupt but the first)
    ldr     x0, [x0]
    cmp     x0, #(NTICKS - 1)
    cset    x0, eq
    bl      putyes
    bl      newline

    // --- 4. a deadline in the past fires at once
    ldr     x0, =oneshot
    mov     x1, #1
    str     x1, [x0]
    msr     daifset, #2
    mrs     x0, cntvct_el0
    sub     x0, x0, #PERIOD
    msr     cntv_cval_el0, x0
    mov     x0, #CTL_ENABLE
    msr     cntv_ctl_el0, x0
    isb
    wfi                                 // returns: the interrupt is pending (masked here)
    msr     daifclr, #2
    isb
    say     "vtimer: expired deadline fires at once: "
    ldr     x0, [x19]
    cmp     x0, #(NTICKS + 1)
    cset    x0, eq
    bl      putyes
    bl      newline

    // --- 5. the handler turned it off: time goes on, nothing more arrives
    mrs     x20, cntvct_el0
1:  mrs     x0, cntvct_el0
    sub     x0, x0, x20
    cmp     x0, #(2 * PERIOD)
    b.lo    1b
    say     "vtimer: after the handler disabled it: interrupts "
    ldr     x0, [x19]
    bl      putdec
    say     ", ctl "
    mrs     x0, cntv_ctl_el0
    bl      putdec
    bl      newline
    say     "vtimer: done"
    bl      newline
    b       system_off

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
    .global vtimer_acked                // (for tests/test_hypervisor.py: the state of the
vtimer_acked:                           // list registers after the acknowledge, after the EOI)
    cmp     x0, #PPI_VTIMER
    b.ne    8f
    ldr     x1, =ticks
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
    mrs     x3, cntv_cval_el0
    mrs     x4, cntvct_el0              // the condition holds (CNTVCT >= CVAL)
    cmp     x4, x3
    b.lo    1f
    mrs     x4, cntv_ctl_el0            // and ISTATUS says so
    tbz     x4, #2, 1f
    ldr     x1, =late_ok
    ldr     x4, [x1]
    add     x4, x4, #1
    str     x4, [x1]
1:  ldr     x1, =oneshot                // the one-shot of part 4: off, done
    ldr     x4, [x1]
    cbnz    x4, 3f
    ldr     x1, =last_cval              // one period after the previous deadline
    ldr     x4, [x1]
    str     x3, [x1]
    cbz     x4, 2f                      // (the first one)
    sub     x4, x3, x4
    cmp     x4, #PERIOD
    b.ne    2f
    ldr     x1, =period_ok
    ldr     x4, [x1]
    add     x4, x4, #1
    str     x4, [x1]
2:  cmp     x2, #NTICKS
    b.hs    3f
    add     x3, x3, #PERIOD             // next period
    msr     cntv_cval_el0, x3
    b       8f
3:  msr     cntv_ctl_el0, xzr           // enough: the timer off (its line drops)
8:  isb
    cmp     x0, #1020
    b.hs    9f
    msr     icc_eoir1_el1, x0
    .global vtimer_eoied
    .type   vtimer_eoied, %function
vtimer_eoied:
9:  ldp     x4, x30, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp], #48
    eret

    irq_only_vectors vtimer, irq_handler

#include "guest_lib.S"
    .ltorg

    .balign 64
ticks:      .quad 0
late_ok:    .quad 0
period_ok:  .quad 0
last_cval:  .quad 0
oneshot:    .quad 0
    .balign 16
    .space  4096
stack_top:
