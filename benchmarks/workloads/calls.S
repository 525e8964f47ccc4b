// calls: a function-call-heavy loop — bl/ret with a stack frame (stp/ldp of fp, lr) and a
// nested leaf call, as compiled C does. ITERS iterations.
#include "prologue.inc"

main:
    ldr     x0, =ITERS
    ldr     x1, =(RAM_BASE + 0x200000)
    mov     sp, x1
    mov     x19, #0
1:  mov     x0, x0
    bl      outer
    subs    x0, x0, #1
    b.ne    1b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .

outer:
    stp     x29, x30, [sp, #-32]!
    mov     x29, sp
    str     x0, [sp, #16]
    bl      leaf
    ldr     x0, [sp, #16]
    ldp     x29, x30, [sp], #32
    ret

leaf:
    add     x19, x19, x0
    eor     x19, x19, x19, lsr #5
    ret
