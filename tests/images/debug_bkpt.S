// debug_bkpt: hardware breakpoints at EL1 and EL0 (Arm ARM AArch64.CheckBreakpoint,
// AArch64.BreakpointMatch, AArch64.BreakpointValueMatch, AArch64.StateMatch), and what masks
// them: the OS lock, DBGBCR.E, PMC, BAS, MDSCR_EL1.MDE and KDE, PSTATE.D, context-ID linking.
//
// Runs at EL1 (entered at EL2 it drops to EL1 first); tests/test_selfdebug.py compares its
// output with QEMU's cortex-a57. Each case programs the breakpoints, calls `target` (or runs
// `el0_code` at EL0), and prints either the exception taken (vector offset, ESR_EL1.EC and ISS,
// ELR_EL1 - _start) or "none".

#include "debug_lib.inc"

    .global _start
    .type   _start, %function
_start:
    dl_enter_el1
    adr     x0, s_hello
    bl      puts
    mrs     x1, id_aa64dfr0_el1
    adr     x0, s_dfr0
    bl      dl_kv
    mrs     x1, oslsr_el1
    adr     x0, s_oslsr
    bl      dl_kv
    mov     x0, #(MDSCR_MDE | MDSCR_KDE)
    msr     mdscr_el1, x0
    msr     daifclr, #8                 // PSTATE.D = 0: debug exceptions at EL1 with KDE
    adr     x22, target

    // The OS lock is set out of reset: nothing fires.
    ldr     x0, =BCR_EL10
    msr     dbgbvr0_el1, x22
    msr     dbgbcr0_el1, x0
    isb
    adr     x21, s_oslock
    bl      try
    msr     oslar_el1, xzr              // unlock
    isb
    mrs     x1, oslsr_el1
    adr     x0, s_oslsr
    bl      dl_kv
    adr     x21, s_address
    bl      try
    // DBGBCR0.E = 0
    ldr     x0, =(BCR_EL10 & ~1)
    msr     dbgbcr0_el1, x0
    isb
    adr     x21, s_disabled
    bl      try
    // BAS = 0: no byte of the A64 instruction selected
    ldr     x0, =(BCR_EL10 & ~(0xF << 5))
    msr     dbgbcr0_el1, x0
    isb
    adr     x21, s_bas0
    bl      try
    // PMC = 0b10: EL0 only
    ldr     x0, =BCR_EL0
    msr     dbgbcr0_el1, x0
    isb
    adr     x21, s_el0only
    bl      try
    ldr     x0, =BCR_EL1
    msr     dbgbcr0_el1, x0
    isb
    adr     x21, s_el1only
    bl      try
    // MDSCR_EL1.MDE = 0, then KDE = 0
    mov     x0, #MDSCR_KDE
    msr     mdscr_el1, x0
    isb
    adr     x21, s_mde0
    bl      try
    mov     x0, #MDSCR_MDE
    msr     mdscr_el1, x0
    isb
    adr     x21, s_kde0
    bl      try
    mov     x0, #(MDSCR_MDE | MDSCR_KDE)
    msr     mdscr_el1, x0
    // PSTATE.D = 1
    msr     daifset, #8
    adr     x21, s_dmask
    bl      try
    msr     daifclr, #8
    // the last of the six breakpoints
    msr     dbgbcr0_el1, xzr
    ldr     x0, =BCR_EL10
    msr     dbgbvr5_el1, x22
    msr     dbgbcr5_el1, x0
    isb
    adr     x21, s_bp5
    bl      try
    msr     dbgbcr5_el1, xzr
    // bp1 linked to context-ID breakpoint 4 (context-aware): CONTEXTIDR_EL1 match, mismatch
    ldr     x0, =0x1234
    msr     dbgbvr4_el1, x0
    ldr     x0, =BCR_CTX_LINKED
    msr     dbgbcr4_el1, x0
    msr     dbgbvr1_el1, x22
    ldr     x0, =BCR_LINKED(4)
    msr     dbgbcr1_el1, x0
    ldr     x0, =0x1234
    msr     contextidr_el1, x0
    isb
    adr     x21, s_ctxmatch
    bl      try
    ldr     x0, =0x4321
    msr     contextidr_el1, x0
    isb
    adr     x21, s_ctxmismatch
    bl      try
    // linked to breakpoint 2, which is not context-aware: the link is disabled
    ldr     x0, =0x1234
    msr     contextidr_el1, x0
    ldr     x0, =BCR_LINKED(2)
    msr     dbgbcr1_el1, x0
    isb
    adr     x21, s_notctx
    bl      try
    msr     dbgbcr1_el1, xzr
    msr     dbgbcr4_el1, xzr
    // EL0: a breakpoint for EL0 fires there (to EL1, lower EL); one for EL1 only does not,
    // and el0_code's SVC comes back instead.
    adr     x0, el0_target
    msr     dbgbvr0_el1, x0
    ldr     x0, =BCR_EL0
    msr     dbgbcr0_el1, x0
    isb
    adr     x21, s_el0
    bl      try_el0
    ldr     x0, =BCR_EL1
    msr     dbgbcr0_el1, x0
    isb
    adr     x21, s_el0_el1only
    bl      try_el0
    b       dl_off

// x21: case name. Calls target with x19/x20 set so that an exception resumes after the call.
try:
    mov     x28, x30
    mov     x0, x21
    bl      puts
    adr     x19, 1f
    mov     x20, #SPSR_EL1H_D0
    bl      target
    adr     x0, s_none
    bl      puts
1:  mov     x30, x28
    ret

// x21: case name. Runs el0_code at EL0; its exception (breakpoint or SVC) resumes here.
try_el0:
    mov     x28, x30
    mov     x0, x21
    bl      puts
    adr     x19, 1f
    mov     x20, #SPSR_EL1H_D0
    adr     x0, el0_code
    msr     elr_el1, x0
    mov     x0, #SPSR_EL0_D0
    msr     spsr_el1, x0
    isb
    eret
1:  mov     x30, x28
    ret

on_exception:
    adr     x0, s_exc
    bl      dl_report
    bl      dl_newline
    b       dl_resume

    .balign 16
target:
    nop
    ret

el0_code:
    nop
el0_target:
    nop
    svc     #0
    b       .

#include "debug_lib_code.inc"

s_hello:        .asciz "debug_bkpt: EL1\n"
s_dfr0:         .asciz "ID_AA64DFR0_EL1 "
s_oslsr:        .asciz "OSLSR_EL1 "
s_none:         .asciz " none\n"
s_exc:          .asciz ""
s_oslock:       .asciz "os lock set:"
s_address:      .asciz "address:"
s_disabled:     .asciz "E = 0:"
s_bas0:         .asciz "BAS = 0:"
s_el0only:      .asciz "PMC EL0 only, at EL1:"
s_el1only:      .asciz "PMC EL1 only, at EL1:"
s_mde0:         .asciz "MDE = 0:"
s_kde0:         .asciz "KDE = 0:"
s_dmask:        .asciz "PSTATE.D = 1:"
s_bp5:          .asciz "breakpoint 5:"
s_ctxmatch:     .asciz "linked CONTEXTIDR match:"
s_ctxmismatch:  .asciz "linked CONTEXTIDR mismatch:"
s_notctx:       .asciz "linked to a non-context-aware breakpoint:"
s_el0:          .asciz "EL0, PMC EL0:"
s_el0_el1only:  .asciz "EL0, PMC EL1 only:"
