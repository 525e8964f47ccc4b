// Assembler macros used all over the firmware. Calling convention: AAPCS64 — arguments and
// results in x0..x7, x9..x17 free to clobber, x19..x29 and sp preserved by callees; x18 is not
// used. Every function that calls another saves x29/x30 first.

#ifndef HV_MACROS_H
#define HV_MACROS_H

// Exception classes (EC_*), ESR_IL and ESR_ISV: generated into hv_abi.h from
// armvirt/cpu/syndrome.py.
#define FSC_EXTABT      0x10

// PSCI (Arm DEN 0022) function IDs and return codes come from armvirt/psci.py as PSCI_*.

.macro push2 a, b
    stp     \a, \b, [sp, #-16]!
.endm

.macro pop2 a, b
    ldp     \a, \b, [sp], #16
.endm

// A function prologue/epilogue that keeps x29/x30 and x19..x22 (enough for every function here).
.macro enter
    stp     x29, x30, [sp, #-48]!
    mov     x29, sp
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
.endm

.macro leave
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x29, x30, [sp], #48
    ret
.endm

// The same, keeping x19..x28 (functions with many values to keep across calls).
.macro enter_big
    stp     x29, x30, [sp, #-96]!
    mov     x29, sp
    stp     x19, x20, [sp, #16]
    stp     x21, x22, [sp, #32]
    stp     x23, x24, [sp, #48]
    stp     x25, x26, [sp, #64]
    stp     x27, x28, [sp, #80]
.endm

.macro leave_big
    ldp     x19, x20, [sp, #16]
    ldp     x21, x22, [sp, #32]
    ldp     x23, x24, [sp, #48]
    ldp     x25, x26, [sp, #64]
    ldp     x27, x28, [sp, #80]
    ldp     x29, x30, [sp], #96
    ret
.endm

// The host part's timer (armvirt/hv/abi.py, HOST_TIMER_PPI_*): the EL1 physical timer in the
// split build (the host part runs at EL1), the EL2 physical timer in the direct one.
#ifdef HV_SPLIT
#define HOST_TIMER_PPI  HOST_TIMER_PPI_SPLIT
.macro host_timer_arm cval, tmp
    msr     cntp_cval_el0, \cval
    mov     \tmp, #1                    // ENABLE, not masked
    msr     cntp_ctl_el0, \tmp
.endm
.macro host_timer_off
    msr     cntp_ctl_el0, xzr
.endm
#else
#define HOST_TIMER_PPI  HOST_TIMER_PPI_DIRECT
.macro host_timer_arm cval, tmp
    msr     cnthp_cval_el2, \cval
    mov     \tmp, #1
    msr     cnthp_ctl_el2, \tmp
.endm
.macro host_timer_off
    msr     cnthp_ctl_el2, xzr
.endm
#endif

// This PE's PCPU record. The EL2 code always finds it in TPIDR_EL2; the host part (the code in
// host/) runs at EL1 in the split build, where TPIDR_EL1 holds it, and at EL2 in the direct build.
.macro this_pcpu reg
#ifdef HV_SPLIT
    mrs     \reg, tpidr_el1
#else
    mrs     \reg, tpidr_el2
#endif
.endm

// Spinlock on the 64-bit word at [\addr]: load-acquire exclusive until it is 0, then claim it.
// (No WFE in the loop: the waiter just spins; the emulator's PEs take turns.)
.macro spin_lock addr, tmp, status
1:  ldaxr   \tmp, [\addr]
    cbnz    \tmp, 1b
    mov     \tmp, #1
    stxr    \status, \tmp, [\addr]
    cbnz    \status, 1b
.endm

.macro spin_unlock addr
    stlr    xzr, [\addr]
.endm

// Log a constant string (part of a line started by log_begin).
.macro log_s text
    adr     x0, 8f
    bl      log_str
    b       9f
8:  .asciz  "\text"
    .balign 4
9:
.endm

// Read and write one general register of a saved context by number (0..30; 31 reads as 0 and
// writes nothing, as XZR in a load/store's Rt).
.macro ctxt_get_reg dst, ctxt, num
    mov     \dst, #0
    cmp     \num, #31
    b.eq    7f
    ldr     \dst, [\ctxt, \num, lsl #3]
7:
.endm

.macro ctxt_set_reg ctxt, num, val
    cmp     \num, #31
    b.eq    7f
    str     \val, [\ctxt, \num, lsl #3]
7:
.endm

#endif
