// debug_el2: debug exceptions and EL2 (Arm ARM AArch64.GenerateDebugExceptionsFrom, DebugTarget,
// AArch64.BreakpointException / WatchpointException / SoftwareStepException routing, and the
// MDCR_EL2.TDE/TDA/TDOSA/TDRA traps of the debug registers): at EL2 a breakpoint fires only
// when MDCR_EL2.TDE makes EL2 the debug target (with MDSCR_EL1.KDE and PSTATE.D clear); with TDE
// (or HCR_EL2.TGE) breakpoints, watchpoints and software step of EL1/EL0 go to EL2; TDA, TDOSA
// and TDRA (and TDE, which implies them) trap EL1's debug register accesses with EC 0x18.
//
// Entered at EL2: `armvirt` with --el 2 / Machine(el=2), QEMU with virtualization=on; PSCI by
// SMC. tests/test_selfdebug.py compares its output with QEMU's cortex-a57. Every exception
// prints the vector offset, ESR_EL2.EC and ISS, ELR_EL2 - _start (and FAR_EL2 - _start for a
// watchpoint); HVC #1 from EL1/EL0 code means that code ran to its end: "none".

#include "debug_lib.inc"

#define HCR_RW      (1 << 31)
#define HCR_TGE     (1 << 27)
#define MDCR_TDE    (1 << 8)
#define MDCR_TDA    (1 << 9)
#define MDCR_TDOSA  (1 << 10)
#define MDCR_TDRA   (1 << 11)
#define SPSR_EL2H_D0 0x1C9
#define SPSR_EL2H_D1 0x3C9
#define BCR_ALL     (1 | (3 << 1) | (0xF << 5) | (1 << 13))    // HMC = 1, PMC = 0b11

    .global _start
    .type   _start, %function
_start:
    adr     x0, dl_vectors
    msr     vbar_el2, x0
    msr     vbar_el1, x0
    adr     x0, dl_stack_top
    mov     sp, x0
    adr     x0, s_hello
    bl      puts
    mrs     x0, CurrentEL
    cmp     x0, #8
    b.ne    el2_off
    ldr     x0, =HCR_RW
    msr     hcr_el2, x0
    msr     oslar_el1, xzr
    mov     x0, #(MDSCR_MDE | MDSCR_KDE)
    msr     mdscr_el1, x0
    msr     daifclr, #8
    adr     x22, target
    msr     dbgbvr0_el1, x22
    ldr     x0, =BCR_ALL
    msr     dbgbcr0_el1, x0
    isb

    adr     x21, s_el2_tde0                 // debug target EL1: nothing at EL2
    bl      try_el2
    mov     x0, #MDCR_TDE
    bl      set_mdcr
    adr     x21, s_el2_tde1                 // debug target EL2: KDE and D = 0 enable it
    bl      try_el2
    mov     x0, #MDSCR_MDE
    msr     mdscr_el1, x0
    isb
    adr     x21, s_el2_kde0
    bl      try_el2
    mov     x0, #(MDSCR_MDE | MDSCR_KDE)
    msr     mdscr_el1, x0
    msr     daifset, #8
    adr     x21, s_el2_d1
    bl      try_el2
    msr     daifclr, #8

    adr     x21, s_el1_tde                  // EL1's breakpoint goes to EL2 with TDE
    adr     x22, el1_call_target
    mov     x23, #SPSR_EL1H_D0
    bl      run_lower
    mov     x0, #0
    bl      set_mdcr
    adr     x21, s_el1_notde                // and to EL1 without it (EL1 reports it by HVC #2)
    bl      run_lower
    ldr     x0, =(HCR_RW | HCR_TGE)         // TGE: EL0's breakpoint goes to EL2
    msr     hcr_el2, x0
    isb
    adr     x21, s_el0_tge
    adr     x22, el0_call_target
    mov     x23, #SPSR_EL0_D0
    bl      run_lower
    ldr     x0, =HCR_RW
    msr     hcr_el2, x0
    msr     dbgbcr0_el1, xzr
    isb

    // Traps of EL1's debug register accesses
    mov     x0, #MDCR_TDA
    bl      set_mdcr
    adr     x21, s_tda
    adr     x22, el1_read_bcr
    mov     x23, #SPSR_EL1H_D0
    bl      run_lower
    mov     x0, #MDCR_TDOSA
    bl      set_mdcr
    adr     x21, s_tdosa
    adr     x22, el1_write_oslar
    bl      run_lower
    adr     x21, s_tdosa_bcr                // TDOSA alone does not trap DBGBCR
    adr     x22, el1_read_bcr
    bl      run_lower
    mov     x0, #MDCR_TDRA
    bl      set_mdcr
    adr     x21, s_tdra
    adr     x22, el1_read_mdrar
    bl      run_lower
    mov     x0, #MDCR_TDE
    bl      set_mdcr
    adr     x21, s_tde_mdscr                // TDE traps as TDA, TDOSA and TDRA do
    adr     x22, el1_write_mdscr
    bl      run_lower
    adr     x21, s_tde_oslar
    adr     x22, el1_write_oslar
    bl      run_lower

    // Software step of EL1 with TDE: Software Step exceptions go to EL2 (EL2 itself, the debug
    // target, with KDE = 1 would be stepped too were PSTATE.D clear: it is set here)
    msr     daifset, #8
    ldr     x0, =(MDSCR_MDE | MDSCR_KDE | MDSCR_SS)
    msr     mdscr_el1, x0
    isb
    adr     x21, s_step
    adr     x22, el1_prog
    ldr     x23, =(SPSR_EL1H_D0 | SPSR_SS)
    bl      run_lower
    mov     x0, #(MDSCR_MDE | MDSCR_KDE)
    msr     mdscr_el1, x0

    // A watchpoint on EL1's store, TDE: to EL2, FAR_EL2
    adr     x0, wdata
    msr     dbgwvr0_el1, x0
    ldr     x0, =(1 | (3 << 1) | (2 << 3) | (0xFF << 5))
    msr     dbgwcr0_el1, x0
    isb
    adr     x21, s_wp
    adr     x22, el1_store
    mov     x23, #SPSR_EL1H_D0
    bl      run_lower
    msr     dbgwcr0_el1, xzr
    isb
    b       el2_off

// MDCR_EL2's debug controls := x0, its other fields (HPMN, ...) kept
set_mdcr:
    mrs     x1, mdcr_el2
    bic     x1, x1, #(MDCR_TDE | MDCR_TDA | MDCR_TDOSA | MDCR_TDRA)
    orr     x1, x1, x0
    msr     mdcr_el2, x1
    isb
    ret

try_el2:
    mov     x28, x30
    mov     x0, x21
    bl      puts
    adr     x19, 1f
    mrs     x20, daif
    mov     x0, #0x9                        // resume in EL2h with the DAIF of the call
    orr     x20, x20, x0
    bl      target
    adr     x0, s_none
    bl      puts
1:  mov     x30, x28
    ret

// x21: name; ERET to x22 at the EL of SPSR_EL2 = x23; HVC #1 there comes back as "none"
run_lower:
    mov     x28, x30
    mov     x0, x21
    bl      puts
    adr     x19, 1f
    mov     x20, #SPSR_EL2H_D1              // back in EL2 with PSTATE.D = 1
    adr     x14, wdata
    msr     elr_el2, x22
    msr     spsr_el2, x23
    isb
    eret
1:  mov     x30, x28
    ret

on_exception:
    mrs     x0, CurrentEL
    cmp     x0, #4
    b.eq    el1_exception
    add     x27, x27, #1
    cmp     x27, #60
    b.hi    el2_off
    mrs     x1, esr_el2
    lsr     x2, x1, #26
    cmp     x2, #0x16
    b.ne    1f
    and     x1, x1, #0xFFFF
    cmp     x1, #1
    b.ne    1f
    adr     x0, s_none                      // HVC #1: the lower EL's code ran to its end
    bl      puts
    b       resume
1:  mov     x11, x30
    adr     x0, s_vec
    bl      puts
    mov     x0, x10
    bl      puthex
    adr     x0, s_ec
    bl      puts
    mrs     x0, esr_el2
    lsr     x0, x0, #26
    bl      puthex
    adr     x0, s_iss
    bl      puts
    mrs     x0, esr_el2
    and     x0, x0, #0x1FFFFFF
    bl      puthex
    adr     x0, s_elr
    bl      puts
    mrs     x0, elr_el2
    adr     x1, _start
    sub     x0, x0, x1
    bl      puthex
    mrs     x1, esr_el2
    lsr     x2, x1, #26
    cmp     x2, #0x34
    b.ne    2f
    adr     x0, s_far
    bl      puts
    mrs     x0, far_el2
    adr     x1, _start
    sub     x0, x0, x1
    bl      puthex
2:  bl      dl_newline
    mrs     x1, esr_el2
    lsr     x2, x1, #26
    cmp     x2, #0x32
    b.ne    resume
    mrs     x0, spsr_el2                    // a step: step the next instruction too
    orr     x0, x0, #SPSR_SS
    msr     spsr_el2, x0
    eret
resume:
    msr     elr_el2, x19
    msr     spsr_el2, x20
    isb
    eret

// At EL1 (a debug exception taken to EL1 without TDE): report it to EL2 by HVC #2 with the
// EL1 syndrome in x0, which EL2 prints as it prints its own.
el1_exception:
    mrs     x0, esr_el1
    hvc     #2

el1_call_target:
    bl      target
    hvc     #1
el0_call_target:
    bl      target
    hvc     #1                              // UNDEFINED at EL0: EC 0x00 to EL2 under TGE
el1_read_bcr:
    mrs     x0, dbgbcr0_el1
    hvc     #1
el1_write_oslar:
    msr     oslar_el1, xzr
    hvc     #1
el1_read_mdrar:
    mrs     x0, mdrar_el1
    hvc     #1
el1_write_mdscr:
    msr     mdscr_el1, xzr
    hvc     #1
el1_prog:
    mov     x12, #1
    add     x12, x12, #1
    hvc     #1
el1_store:
    str     x12, [x14]
    hvc     #1

    .balign 16
target:
    nop
    ret

el2_off:
    adr     x0, dl_s_done
    bl      puts
    ldr     x0, =PSCI_SYSTEM_OFF
    smc     #0
    b       .

    .balign 8
wdata:  .quad 0

#include "debug_lib_code.inc"

s_hello:        .asciz "debug_el2: EL2\n"
s_none:         .asciz " none\n"
s_vec:          .asciz " vec="
s_ec:           .asciz " EC="
s_iss:          .asciz " ISS="
s_elr:          .asciz " ELR=+"
s_far:          .asciz " FAR=+"
s_el2_tde0:     .asciz "EL2, TDE = 0:"
s_el2_tde1:     .asciz "EL2, TDE = 1:"
s_el2_kde0:     .asciz "EL2, TDE = 1, KDE = 0:"
s_el2_d1:       .asciz "EL2, TDE = 1, PSTATE.D = 1:"
s_el1_tde:      .asciz "EL1 breakpoint, TDE = 1:"
s_el1_notde:    .asciz "EL1 breakpoint, TDE = 0 (to EL1, reported by HVC #2):"
s_el0_tge:      .asciz "EL0 breakpoint, TGE = 1:"
s_tda:          .asciz "EL1 MRS DBGBCR0_EL1, TDA:"
s_tdosa:        .asciz "EL1 MSR OSLAR_EL1, TDOSA:"
s_tdosa_bcr:    .asciz "EL1 MRS DBGBCR0_EL1, TDOSA:"
s_tdra:         .asciz "EL1 MRS MDRAR_EL1, TDRA:"
s_tde_mdscr:    .asciz "EL1 MSR MDSCR_EL1, TDE:"
s_tde_oslar:    .asciz "EL1 MSR OSLAR_EL1, TDE:"
s_step:         .asciz "EL1 stepped, TDE = 1:\n"
s_wp:           .asciz "EL1 store watchpoint, TDE = 1:"
