// alu: a dependent chain of integer ALU operations (add, eor with shift, sub, orr, and).
// ITERS iterations of 8 instructions, then PSCI SYSTEM_OFF.
#include "prologue.inc"

main:
    ldr     x0, =ITERS
    mov     x1, #1
    mov     x2, #3
1:  add     x1, x1, x2
    eor     x2, x2, x1, lsl #3
    sub     x3, x1, x2
    orr     x4, x3, #0xff
    and     x5, x4, x1
    add     x2, x2, x5, lsr #7
    subs    x0, x0, #1
    b.ne    1b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .
