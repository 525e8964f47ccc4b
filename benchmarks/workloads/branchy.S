// branchy: data-dependent conditional branches on a linear congruential sequence (each taken
// about half the time, with no pattern a static scheme could learn). ITERS iterations.
#include "prologue.inc"

main:
    ldr     x0, =ITERS
    ldr     x1, =0x2545F4914F6CDD1D
    ldr     x2, =6364136223846793005
    mov     x3, #0
    mov     x4, #0
    mov     x5, #0
1:  mul     x1, x1, x2
    add     x1, x1, #1442
    tbz     x1, #33, 2f
    add     x3, x3, #1
2:  tbnz    x1, #40, 3f
    eor     x4, x4, x1
3:  cmp     x3, x4
    cinc    x5, x5, lt
    subs    x0, x0, #1
    b.ne    1b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .
