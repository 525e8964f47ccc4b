// chase: a pointer chase over 4096 nodes, one per 4 KiB page of a 16 MiB buffer, visited in
// the order of a full-period LCG (next = 5 * i + 1 mod 4096), so consecutive loads land on
// unrelated pages: with translation on, nearly every load misses a 1024-entry TLB and pays a
// whole walk (two-dimensional under stage 2). ITERS iterations of 8 dependent loads.
#include "prologue.inc"

#define NODES   4096
#define BUF     (RAM_BASE + 0x01000000)

main:
    ldr     x9, =BUF
    mov     x2, #0
1:  lsl     x3, x2, #12                   // node i: BUF + 4096 * i + 64 * (i % 64)
    and     x4, x2, #63
    add     x3, x3, x4, lsl #6
    add     x3, x3, x9
    add     x5, x2, x2, lsl #2            // j = (5 * i + 1) mod NODES
    add     x5, x5, #1
    and     x5, x5, #(NODES - 1)
    lsl     x6, x5, #12
    and     x7, x5, #63
    add     x6, x6, x7, lsl #6
    add     x6, x6, x9
    str     x6, [x3]
    add     x2, x2, #1
    cmp     x2, #NODES
    b.ne    1b
    ldr     x0, =ITERS
    mov     x1, x9
2:  ldr     x1, [x1]
    ldr     x1, [x1]
    ldr     x1, [x1]
    ldr     x1, [x1]
    ldr     x1, [x1]
    ldr     x1, [x1]
    ldr     x1, [x1]
    ldr     x1, [x1]
    subs    x0, x0, #1
    b.ne    2b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .
