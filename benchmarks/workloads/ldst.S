// ldst: stream over a 64 KiB buffer, loading, combining and storing back 64-bit words
// (register-offset, post-index and pair forms). ITERS outer iterations of 1024 words.
#include "prologue.inc"

main:
    ldr     x0, =ITERS
    ldr     x9, =(RAM_BASE + 0x100000)
1:  mov     x1, x9
    mov     x2, #512
2:  ldp     x3, x4, [x1]
    add     x3, x3, x4
    eor     x4, x4, x3
    stp     x3, x4, [x1], #16
    ldr     x5, [x1, x2, lsl #3]
    str     x5, [x1, #-8]
    subs    x2, x2, #1
    b.ne    2b
    subs    x0, x0, #1
    b.ne    1b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .
