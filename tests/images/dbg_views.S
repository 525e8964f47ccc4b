// dbg_views: programs, at EL1, what the debugger's `info dbg` and `vcpu` views decode — the
// OS lock, MDSCR_EL1, enabled breakpoints and watchpoints of several kinds, the PMU's event
// counters (SW_INCR: counts that do not depend on timing, one overflowed) and the EL1 physical
// timer (enabled, CVAL in the past: its line is high) — then stops at `stop` and sleeps. No
// debug exception and no interrupt can be taken (PSTATE.D and I stay masked, PPI 30 and the PMU
// interrupt are not enabled in the GIC), so it runs the same bare and as a guest.
// SEED (1, 2, ...) changes every value, so two VMs on one PE write different ones
// (tests/test_debug_dbgregs.py).

#ifndef SEED
#define SEED        1
#endif

    .global _start
    .type   _start, %function
_start:
    msr     oslar_el1, xzr              // the OS lock off
    ldr     x0, =((1 << 15) | (1 << 13))    // MDSCR_EL1: MDE, KDE
    msr     mdscr_el1, x0
    // bp0: address of `never` + 4 * SEED, EL1 and EL0 (PMC 0b11), BAS 0b1111
    adr     x0, never
    add     x0, x0, #(4 * SEED)
    msr     dbgbvr0_el1, x0
    ldr     x0, =((0xF << 5) | (3 << 1) | 1)
    msr     dbgbcr0_el1, x0
    // bp4 (context-aware): CONTEXTIDR_EL1 = 0x100 + SEED, EL1 only (PMC 0b01)
    mov     x0, #(0x100 + SEED)
    msr     dbgbvr4_el1, x0
    ldr     x0, =((0b0010 << 20) | (0xF << 5) | (1 << 1) | 1)
    msr     dbgbcr4_el1, x0
    // wp0: stores to bytes 2..5 of `wdata` + 8 * SEED (BAS 0b00111100), EL1+EL0
    adr     x0, wdata
    add     x0, x0, #(8 * SEED)
    msr     dbgwvr0_el1, x0
    ldr     x0, =((0x3C << 5) | (2 << 3) | (3 << 1) | 1)
    msr     dbgwcr0_el1, x0
    // wp2: loads anywhere in the 4 KiB block at 0x4010_0000 + 0x1000 * SEED (MASK 12), EL0 only
    ldr     x0, =(0x40100000 + 0x1000 * SEED)
    msr     dbgwvr2_el1, x0
    ldr     x0, =((12 << 24) | (0xFF << 5) | (1 << 3) | (2 << 1) | 1)
    msr     dbgwcr2_el1, x0
    isb
    // PMU: counters 0 and 1 count SW_INCR; counter 0 is incremented SEED + 2 times, counter 1
    // starts at 0xFFFFFFFF and overflows once (PMOVSSET bit 1); counter 2's interrupt is
    // enabled (PMINTENSET bit 2) though the counter is not
    msr     pmevtyper0_el0, xzr
    msr     pmevtyper1_el0, xzr
    msr     pmevcntr0_el0, xzr
    mov     x0, #0xFFFFFFFF
    msr     pmevcntr1_el0, x0
    mov     x0, #4
    msr     pmintenset_el1, x0
    mov     x0, #3
    msr     pmcntenset_el0, x0
    mrs     x0, pmcr_el0
    orr     x0, x0, #1                  // E
    msr     pmcr_el0, x0
    isb
    mov     x1, #(SEED + 2)
1:  mov     x0, #1
    msr     pmswinc_el0, x0
    subs    x1, x1, #1
    b.ne    1b
    mov     x0, #2
    msr     pmswinc_el0, x0
    // the EL1 physical timer: enabled, not masked, CVAL = SEED (long past)
    mov     x0, #SEED
    msr     cntp_cval_el0, x0
    mov     x0, #1
    msr     cntp_ctl_el0, x0
    isb
    b       stop
    .ltorg
    .size   _start, . - _start

    .global never
    .type   never, %function
never:
    .rept   8
    nop
    .endr
    .size   never, . - never

    .balign 64
    .global wdata
wdata:
    .fill   64, 1, 0

    // 128 KiB in: where the hypervisor has no code at the same address (as a PA), so GDB's
    // unscoped breakpoint on `stop` cannot stop in the hypervisor before the VM exists
    .balign 0x20000
    .global stop
    .type   stop, %function
stop:
    nop
2:  wfi
    b       2b
    .size   stop, . - stop
