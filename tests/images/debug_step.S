// debug_step: software step (Arm ARM AArch64.CheckSoftwareStep, SSAdvance,
// AArch64.SoftwareStepException, DebugExceptionReturnSS): the active-not-pending /
// active-pending state machine in PSTATE.SS and SPSR.SS, ESR ISS.ISV and ISS.EX, stepping
// through an SVC and its ERET, through an instruction that takes a Data Abort, at EL0 and at
// EL1 (MDSCR_EL1.KDE), and what stops it (KDE = 0 at EL1, the OS lock).
//
// Runs at EL1 (entered at EL2 it drops to EL1 first); tests/test_selfdebug.py compares its
// output with QEMU's cortex-a57. Every exception prints the vector offset, ESR_EL1.EC and ISS,
// ELR_EL1 - _start and SPSR_EL1.SS. A Software Step exception is returned from with SPSR.SS = 1
// (step the next instruction); SVC #0 and a Data Abort (skipping the faulting load) return with
// the SPSR as taken; SVC #1 ends the case.

#include "debug_lib.inc"

    .global _start
    .type   _start, %function
_start:
    dl_enter_el1
    adr     x0, s_hello
    bl      puts
    msr     oslar_el1, xzr
    mov     x0, #MDSCR_SS
    msr     mdscr_el1, x0
    isb
    mov     x27, #0                     // exceptions taken (a runaway guard)

    adr     x21, s_el0
    adr     x22, el0_prog
    ldr     x23, =(SPSR_EL0_D0 | SPSR_SS)
    bl      run_case
    adr     x21, s_el0_pending
    adr     x22, el0_prog
    ldr     x23, =SPSR_EL0_D0           // SPSR.SS = 0: active-pending at once, nothing stepped
    bl      run_case

    mov     x0, #(MDSCR_SS | MDSCR_KDE)
    msr     mdscr_el1, x0
    isb
    adr     x21, s_el1
    adr     x22, el1_prog
    ldr     x23, =(SPSR_EL1H_D0 | SPSR_SS)
    bl      run_case
    mov     x0, #MDSCR_SS               // KDE = 0: no stepping at EL1
    msr     mdscr_el1, x0
    isb
    adr     x21, s_el1_kde0
    adr     x22, el1_prog
    ldr     x23, =(SPSR_EL1H_D0 | SPSR_SS)
    bl      run_case

    // Instructions a hypervisor emulates (they trap to EL2 and it completes them): stepped as
    // any other, one Software Step exception after each (a hypervisor completing one must
    // leave PSTATE.SS = 0, active-pending, as KVM's kvm_skip_instr does). ISS.ISV and EX are
    // not printed here: after "another exception was taken before the Software Step exception"
    // (the trap to EL2, invisible to the guest) the Arm ARM's SoftwareStep_DidNotStep() may
    // return TRUE or FALSE, so a guest may see ISV = 0 where the bare PE gives 1.
    ldr     x0, =(0x1FFFFFF & ~((1 << 24) | (1 << 6)))
    adr     x1, dl_iss_mask
    str     x0, [x1]
    mov     x0, #(MDSCR_SS | MDSCR_KDE)
    msr     mdscr_el1, x0
    isb
    adr     x21, s_el1_trapped
    adr     x22, el1_trapped
    ldr     x23, =(SPSR_EL1H_D0 | SPSR_SS)
    bl      run_case
    adr     x21, s_el0_trapped
    adr     x22, el0_trapped
    ldr     x23, =(SPSR_EL0_D0 | SPSR_SS)
    bl      run_case
    ldr     x0, =0x1FFFFFF
    adr     x1, dl_iss_mask
    str     x0, [x1]

    mov     x0, #1
    msr     oslar_el1, x0               // the OS lock: no stepping anywhere
    isb
    adr     x21, s_oslock
    adr     x22, el0_prog
    ldr     x23, =(SPSR_EL0_D0 | SPSR_SS)
    bl      run_case
    b       dl_off

// x21: name; ERET to x22 with SPSR_EL1 = x23; SVC #1 from there comes back here.
run_case:
    mov     x28, x30
    mov     x0, x21
    bl      puts
    adr     x19, 1f
    mov     x20, #0x3C5                 // back in EL1h with PSTATE.D = 1: no stepping here
    adr     x14, data
    mov     x15, #(1 << 50)             // beyond any PA size: an Address size fault
    ldr     x16, =UART_BASE
    msr     elr_el1, x22
    msr     spsr_el1, x23
    isb
    eret
1:  mov     x30, x28
    ret

on_exception:
    add     x27, x27, #1
    cmp     x27, #80
    b.hi    dl_off
    adr     x0, s_exc
    bl      dl_report
    adr     x0, s_ss
    bl      puts
    mrs     x0, spsr_el1
    ubfx    x0, x0, #21, #1
    bl      puthex
    bl      dl_newline
    mrs     x1, esr_el1
    lsr     x2, x1, #26
    cmp     x2, #0x32
    b.eq    1f
    cmp     x2, #0x33
    b.eq    1f
    cmp     x2, #0x15
    b.eq    2f
    cmp     x2, #0x24
    b.eq    3f
    b       dl_resume
1:  mrs     x0, spsr_el1                // a step: step the next instruction too
    orr     x0, x0, #SPSR_SS
    msr     spsr_el1, x0
    eret
2:  and     x1, x1, #0xFFFF             // SVC #1 ends the case, SVC #0 returns as taken
    cbnz    x1, dl_resume
    eret
3:  mrs     x0, elr_el1                 // a Data Abort: skip the load
    add     x0, x0, #4
    msr     elr_el1, x0
    eret

el0_prog:
    mov     x12, #1
    add     x12, x12, #2
    ldxr    x13, [x14]                  // a Load-Exclusive: ISS.EX = 1
    clrex
    svc     #0                          // stepped and completes: SPSR.SS = 0 at the SVC
    nop
    ldr     x13, [x15]                  // aborts: not complete, SPSR.SS = 1
    nop
    b       1f
    nop
1:  svc     #1

el1_prog:
    mov     x12, #3
    ldaxr   w13, [x14]
    clrex
    svc     #1

// a device register read (under a hypervisor: a stage 2 fault it emulates)
el0_trapped:
    mov     x12, #1
    ldr     w13, [x16, #0x18]           // UARTFR
    add     x12, x12, #2
    svc     #1

// and a system register a hypervisor traps (HCR_EL2.TACR)
el1_trapped:
    mov     x12, #3
    mrs     x13, actlr_el1
    ldr     w13, [x16, #0x18]           // UARTFR
    add     x12, x12, #1
    svc     #1

    .balign 8
data:   .quad 0x1122334455667788

#include "debug_lib_code.inc"

s_hello:        .asciz "debug_step: EL1\n"
s_exc:          .asciz " "
s_ss:           .asciz " SS="
s_el0:          .asciz "EL0 stepped from an ERET with SPSR.SS = 1\n"
s_el0_pending:  .asciz "EL0 from an ERET with SPSR.SS = 0\n"
s_el1:          .asciz "EL1 with KDE = 1\n"
s_el1_kde0:     .asciz "EL1 with KDE = 0\n"
s_oslock:       .asciz "EL0 with the OS lock set\n"
s_el1_trapped:  .asciz "EL1 with KDE = 1 through a trapped register and a device read (ISV, EX not shown)\n"
s_el0_trapped:  .asciz "EL0 stepped through a device read (ISV, EX not shown)\n"
