// smp_gic: two PEs, the GICv3, the virtual timer and the PMU, bare on the virt board.
//
// PE0 starts PE1 with PSCI CPU_ON, then both take part in: an SGI ping-pong (ICC_SGI1R_EL1 by
// target list), an SGI to all but self (IRM), priority ordering and the EOImode = 1 split on
// PE0, periodic virtual-timer interrupts on each PE (sleeping in WFI between them), and a
// shared counter incremented under a LDAXR/STLXR spinlock, with LDADDAL and with a CAS loop.
// PE0 prints the results — only values that do not depend on timing, so that the output is
// the same on armvirt and on qemu-system-aarch64 -M virt,gic-version=3 -smp 2 -cpu cortex-a76
// (tests/test_smp.py compares them) — and powers off.
//
// Build: make guests (or python -m armvirt.build guests). Run:
//   armvirt run --smp 2 build/guests/smp_gic.elf

#define NPING   50          // SGI round trips
#define NTIMER  5           // timer interrupts per PE
#define PERIOD  2000        // timer period in counter ticks (32 us at 62.5 MHz)
#define NLOCK   500         // increments per PE and per method

#define SGI_PING    1       // PE0 -> PE1
#define SGI_PONG    2       // PE1 -> PE0
#define SGI_LOW     5       // priority 0xC0 (self, PE0)
#define SGI_HIGH    6       // priority 0x40 (self, PE0)
#define SGI_BCAST   7       // IRM = 1: everyone but the sender
#define PPI_VTIMER  27

#define GICR_WAKER      0x0014
#define GICR_SGI        0x10000
#define GICR_IGROUPR0   (GICR_SGI + 0x0080)
#define GICR_ISENABLER0 (GICR_SGI + 0x0100)
#define GICR_ISACTIVER0 (GICR_SGI + 0x0300)
#define GICR_IPRIORITYR (GICR_SGI + 0x0400)

    .arch_extension lse                 // ldaddal, cas: Armv8.1 atomics (the PE has FEAT_LSE)

    .global _start
    .type   _start, %function
_start:
    ldr     x0, =stack0_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    msr     tpidr_el1, xzr              // PE index
    ldr     x1, =GICD_BASE
    mov     w2, #3                      // EnableGrp0 | EnableGrp1
    str     w2, [x1]
    mov     x0, #0
    bl      gic_cpu_init

    adr     x0, s_title
    bl      puts
    // --- the GIC as PE0 sees it
    adr     x0, s_gic
    bl      puts
    ldr     x1, =GICD_BASE
    ldr     w0, [x1]                    // GICD_CTLR: ARE, DS and the two enables
    bl      puthex
    adr     x0, s_itlines
    bl      puts
    ldr     x1, =GICD_BASE
    ldr     w0, [x1, #4]
    and     x0, x0, #0x1f
    bl      putdec
    adr     x0, s_iidr
    bl      puts
    ldr     x1, =GICD_BASE
    ldr     w0, [x1, #8]
    bl      puthex
    adr     x0, s_pmr
    bl      puts
    mrs     x0, icc_pmr_el1
    bl      puthex
    adr     x0, s_ctlr
    bl      puts
    mrs     x0, icc_ctlr_el1
    bl      puthex
    adr     x0, s_bpr
    bl      puts
    mrs     x0, icc_bpr0_el1
    bl      putdec
    mov     w0, #' '
    bl      putc
    mrs     x0, icc_bpr1_el1
    bl      putdec
    mov     w0, #'\n'
    bl      putc

    // --- priorities: SGI 6 (0x40) before SGI 5 (0xC0); 5 cannot preempt 6
    ldr     x0, =((SGI_LOW << 24) | 1)
    msr     icc_sgi1r_el1, x0
    ldr     x0, =((SGI_HIGH << 24) | 1)
    msr     icc_sgi1r_el1, x0
    isb
    adr     x0, s_prio
    bl      puts
    mrs     x19, icc_iar1_el1
    mov     x0, x19
    bl      putdec
    mov     w0, #' '
    bl      putc
    mrs     x0, icc_iar1_el1            // 1023: SGI 5 may not preempt
    bl      putdec
    mov     w0, #' '
    bl      putc
    msr     icc_eoir1_el1, x19
    mrs     x19, icc_iar1_el1
    mov     x0, x19
    bl      putdec
    msr     icc_eoir1_el1, x19
    mov     w0, #'\n'
    bl      putc

    // --- EOImode = 1: the EOI drops the priority, ICC_DIR_EL1 deactivates
    mov     x0, #2
    msr     icc_ctlr_el1, x0
    ldr     x0, =((SGI_LOW << 24) | 1)
    msr     icc_sgi1r_el1, x0
    isb
    mrs     x19, icc_iar1_el1
    msr     icc_eoir1_el1, x19
    adr     x0, s_eoimode
    bl      puts
    mrs     x0, icc_rpr_el1
    bl      puthex
    adr     x0, s_active
    bl      puts
    bl      sgi_active
    bl      putdec
    msr     icc_dir_el1, x19
    adr     x0, s_after_dir
    bl      puts
    bl      sgi_active
    bl      putdec
    mov     w0, #'\n'
    bl      putc
    msr     icc_ctlr_el1, xzr

    // --- PMU: the cycle counter runs
    mov     x0, #1
    msr     pmcr_el0, x0
    mov     x0, #(1 << 31)
    msr     pmcntenset_el0, x0
    isb
    mrs     x19, pmccntr_el0
    mov     x0, #100
1:  subs    x0, x0, #1
    b.ne    1b
    isb
    mrs     x20, pmccntr_el0
    adr     x0, s_pmu
    bl      puts
    cmp     x20, x19
    cset    x0, hi
    bl      putdec
    mov     w0, #'\n'
    bl      putc

    // --- start PE1
    ldr     x0, =PSCI_CPU_ON_64
    mov     x1, #1                      // MPIDR Aff0 = 1
    adr     x2, secondary
    mov     x3, #1                      // context id: PE index
    hvc     #0
    mov     x19, x0
    adr     x0, s_cpu_on
    bl      puts
    mov     x0, x19
    bl      putdec
    mov     w0, #'\n'
    bl      putc
    ldr     x1, =pe1_ready
1:  ldr     x2, [x1]
    cbz     x2, 1b

    // --- SGI ping-pong
    msr     daifclr, #2
    mov     x20, #0
2:  add     x20, x20, #1
    ldr     x0, =((SGI_PING << 24) | 2) // target list: Aff0 = 1
    msr     icc_sgi1r_el1, x0
3:  msr     daifset, #2                 // check, then sleep, without missing the wake-up
    ldr     x1, =pong_count
    ldr     x1, [x1]
    cmp     x1, x20
    b.hs    4f
    wfi
    msr     daifclr, #2
    b       3b
4:  msr     daifclr, #2
    cmp     x20, #NPING
    b.lo    2b
    adr     x0, s_pingpong
    bl      puts
    ldr     x0, =ping_count
    ldr     x0, [x0]
    bl      putdec
    mov     w0, #'/'
    bl      putc
    ldr     x0, =pong_count
    ldr     x0, [x0]
    bl      putdec
    mov     w0, #'\n'
    bl      putc

    // --- SGI to all but self
    ldr     x0, =((SGI_BCAST << 24) | (1 << 40))
    msr     icc_sgi1r_el1, x0
    ldr     x1, =bcast_count
1:  ldr     x2, [x1, #8]                // PE1's count
    cbz     x2, 1b
    adr     x0, s_bcast
    bl      puts
    ldr     x1, =bcast_count
    ldr     x0, [x1]
    bl      putdec
    mov     w0, #' '
    bl      putc
    ldr     x1, =bcast_count
    ldr     x0, [x1, #8]
    bl      putdec
    mov     w0, #'\n'
    bl      putc

    // --- timers: both PEs
    ldr     x1, =go_timer
    mov     x2, #1
    str     x2, [x1]
    sev
    bl      timer_phase
    ldr     x1, =timer_done
1:  ldr     x2, [x1, #8]
    cbz     x2, 1b
    adr     x0, s_timer
    bl      puts
    ldr     x1, =timer_count
    ldr     x0, [x1]
    bl      putdec
    mov     w0, #' '
    bl      putc
    ldr     x1, =timer_count
    ldr     x0, [x1, #8]
    bl      putdec
    mov     w0, #'\n'
    bl      putc

    // --- a shared counter, three ways, both PEs at once
    ldr     x1, =go_lock
    mov     x2, #1
    str     x2, [x1]
    sev
    bl      lock_phase
    ldr     x1, =lock_done
1:  ldr     x2, [x1, #8]
    cbz     x2, 1b
    adr     x0, s_spinlock
    bl      puts
    ldr     x0, =counter_lock
    ldr     x0, [x0]
    bl      putdec
    adr     x0, s_ldadd
    bl      puts
    ldr     x0, =counter_ldadd
    ldr     w0, [x0]
    bl      putdec
    adr     x0, s_cas
    bl      puts
    ldr     x0, =counter_cas
    ldr     w0, [x0]
    bl      putdec
    mov     w0, #'\n'
    bl      putc

    // --- PE1 powers itself off; AFFINITY_INFO says so
1:  ldr     x0, =PSCI_AFFINITY_INFO_64
    mov     x1, #1
    mov     x2, #0
    hvc     #0
    cmp     x0, #1                      // OFF
    b.ne    1b
    adr     x0, s_done
    bl      puts
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .

// ---------------------------------------------------------------------------- PE1
secondary:                              // x0 = context id = 1
    ldr     x1, =stack1_top
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    msr     tpidr_el1, x0
    bl      gic_cpu_init
    ldr     x1, =pe1_ready
    mov     x2, #1
    str     x2, [x1]
    msr     daifclr, #2
    ldr     x1, =go_timer               // pings arrive as interrupts meanwhile
1:  ldr     x2, [x1]
    cbnz    x2, 2f
    wfe
    b       1b
2:  bl      timer_phase
    ldr     x1, =go_lock
1:  ldr     x2, [x1]
    cbnz    x2, 2f
    wfe
    b       1b
2:  bl      lock_phase
    msr     daifset, #2
    ldr     x0, =PSCI_CPU_OFF
    hvc     #0
    b       .

// ---------------------------------------------------------------------------- both PEs
gic_cpu_init:                           // x0 = PE index: its redistributor and CPU interface
    ldr     x1, =GICR_BASE
    mov     x2, #GICR_STRIDE
    madd    x1, x0, x2, x1
    str     wzr, [x1, #GICR_WAKER]      // wake the redistributor
1:  ldr     w2, [x1, #GICR_WAKER]
    tbnz    w2, #2, 1b                  // until ChildrenAsleep = 0
    add     x1, x1, #GICR_SGI
    mov     w2, #-1
    str     w2, [x1, #0x80]             // GICR_IGROUPR0: every SGI/PPI in Group 1
    ldr     w2, =((1 << SGI_PING) | (1 << SGI_PONG) | (1 << SGI_LOW) | (1 << SGI_HIGH) | (1 << SGI_BCAST) | (1 << PPI_VTIMER))
    str     w2, [x1, #0x100]            // GICR_ISENABLER0
    mov     w2, #0xc0
    strb    w2, [x1, #(0x400 + SGI_LOW)]
    mov     w2, #0x40
    strb    w2, [x1, #(0x400 + SGI_HIGH)]
    mov     x2, #0xff
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    ret

sgi_active:                             // x0 = 1 if SGI_LOW is active on PE0
    ldr     x1, =(GICR_BASE + GICR_ISACTIVER0)
    ldr     w0, [x1]
    ubfx    x0, x0, #SGI_LOW, #1
    ret

timer_phase:                            // NTIMER virtual timer interrupts, asleep in between
    mov     x0, #PERIOD
    msr     cntv_tval_el0, x0
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    mrs     x3, tpidr_el1
    ldr     x4, =timer_count
1:  msr     daifset, #2
    ldr     x1, [x4, x3, lsl #3]
    cmp     x1, #NTIMER
    b.hs    2f
    wfi
    msr     daifclr, #2
    b       1b
2:  msr     daifclr, #2
    ldr     x4, =timer_done
    mov     x1, #1
    str     x1, [x4, x3, lsl #3]
    ret

lock_phase:
    mov     x22, x30
    mov     x21, #NLOCK
1:  ldr     x0, =lock
    bl      spin_lock
    ldr     x1, =counter_lock
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
    ldr     x0, =lock
    stlr    wzr, [x0]                   // unlock (wakes a waiter's WFE)
    ldr     x1, =counter_ldadd
    mov     w2, #1
    ldaddal w2, w3, [x1]
    ldr     x1, =counter_cas
2:  ldr     w3, [x1]
    add     w4, w3, #1
    mov     w5, w3
    casal   w5, w4, [x1]
    cmp     w5, w3
    b.ne    2b
    subs    x21, x21, #1
    b.ne    1b
    mrs     x3, tpidr_el1
    ldr     x4, =lock_done
    mov     x1, #1
    str     x1, [x4, x3, lsl #3]
    mov     x30, x22
    ret

spin_lock:                              // x0 = lock word
    mov     w2, #1
    sevl
1:  wfe
2:  ldaxr   w1, [x0]
    cbnz    w1, 1b
    stlxr   w1, w2, [x0]
    cbnz    w1, 2b
    ret

// ---------------------------------------------------------------------------- interrupts
irq_handler:
    stp     x0, x1, [sp, #-96]!
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    str     x30, [sp, #80]
    mrs     x0, icc_iar1_el1
    cmp     x0, #1020
    b.hs    9f
    mrs     x1, tpidr_el1
    cmp     x0, #SGI_PING
    b.ne    1f
    ldr     x2, =ping_count
    ldr     x3, [x2]
    add     x3, x3, #1
    str     x3, [x2]
    ldr     x2, =((SGI_PONG << 24) | 1)  // answer PE0
    msr     icc_sgi1r_el1, x2
    b       8f
1:  cmp     x0, #SGI_PONG
    b.ne    2f
    ldr     x2, =pong_count
    ldr     x3, [x2]
    add     x3, x3, #1
    str     x3, [x2]
    b       8f
2:  cmp     x0, #SGI_BCAST
    b.ne    3f
    ldr     x2, =bcast_count
    ldr     x3, [x2, x1, lsl #3]
    add     x3, x3, #1
    str     x3, [x2, x1, lsl #3]
    b       8f
3:  cmp     x0, #PPI_VTIMER
    b.ne    8f
    ldr     x2, =timer_count
    ldr     x3, [x2, x1, lsl #3]
    add     x3, x3, #1
    str     x3, [x2, x1, lsl #3]
    mrs     x4, cntv_cval_el0           // next period, or stop after NTIMER
    add     x4, x4, #PERIOD
    msr     cntv_cval_el0, x4
    cmp     x3, #NTIMER
    b.lo    8f
    msr     cntv_ctl_el0, xzr
8:  msr     icc_eoir1_el1, x0
9:  ldr     x30, [sp, #80]
    ldp     x8, x9, [sp, #64]
    ldp     x6, x7, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp], #96
    eret

unexpected:
    adr     x0, s_unexpected
    bl      puts
    mrs     x0, esr_el1
    bl      puthex
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .

    .macro  ventry target
    b       \target
    .balign 128
    .endm

    .balign 2048
vectors:                                // only IRQs at EL1 with SP_EL1 are expected
    .rept   5
    ventry  unexpected
    .endr
    ventry  irq_handler                 // 0x280: IRQ, current EL with SP_ELx
    .rept   10
    ventry  unexpected
    .endr

#include "print.S"

s_title:     .asciz "smp_gic: 2 PEs, GICv3, virtual timer, PMU\n"
s_gic:       .asciz "gic: ctlr "
s_itlines:   .asciz " itlines "
s_iidr:      .asciz " iidr "
s_pmr:       .asciz " pmr "
s_ctlr:      .asciz " icc_ctlr "
s_bpr:       .asciz " bpr "
s_prio:      .asciz "priority: "
s_eoimode:   .asciz "eoimode1: rpr after eoi "
s_active:    .asciz " active "
s_after_dir: .asciz " after dir "
s_pmu:       .asciz "pmu: cycle counter runs "
s_cpu_on:    .asciz "psci cpu_on: "
s_pingpong:  .asciz "sgi ping-pong: "
s_bcast:     .asciz "sgi to all but self: "
s_timer:     .asciz "virtual timer irqs: "
s_spinlock:  .asciz "counter: ldaxr/stlxr lock "
s_ldadd:     .asciz " ldaddal "
s_cas:       .asciz " casal "
s_done:      .asciz "pe1 off\n"
s_unexpected: .asciz "unexpected exception, esr "

    .balign 64
pe1_ready:     .quad 0
ping_count:    .quad 0
pong_count:    .quad 0
bcast_count:   .quad 0, 0
go_timer:      .quad 0
timer_count:   .quad 0, 0
timer_done:    .quad 0, 0
go_lock:       .quad 0
lock_done:     .quad 0, 0
    .balign 64
lock:          .quad 0
    .balign 64
counter_lock:  .quad 0
    .balign 64
counter_ldadd: .quad 0
    .balign 64
counter_cas:   .quad 0
    .balign 16
    .space  4096
stack0_top:
    .space  4096
stack1_top:
