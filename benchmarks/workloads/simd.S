// simd: the Advanced SIMD integer code compilers emit for string and array loops: stream over
// a 4 KiB buffer 64 bytes at a time (LD1 x4, post-index), a memchr-style byte compare reduced
// with UMAXP/UMOV, lane-wise add and multiply-accumulate, widening pairwise sums (UADDLP,
// UADALP), EXT and EOR, a store back (ST1 x2). ITERS outer iterations of 64 blocks.
#include "prologue.inc"

main:
    mov     x1, #(3 << 20)            // CPACR_EL1.FPEN = 0b11: SIMD&FP enabled at EL0/EL1
    msr     cpacr_el1, x1
    isb
    ldr     x0, =ITERS
    ldr     x9, =(RAM_BASE + 0x100000)
    movi    v7.16b, #0x2a
    movi    v6.4s, #0
    mov     x5, #0
1:  mov     x1, x9
    mov     x2, #64
2:  ld1     {v0.16b, v1.16b, v2.16b, v3.16b}, [x1], #64
    cmeq    v4.16b, v0.16b, v7.16b
    umaxp   v5.16b, v4.16b, v4.16b
    umov    x4, v5.d[0]
    add     x5, x5, x4
    add     v0.16b, v0.16b, v1.16b
    mla     v2.8h, v3.8h, v1.8h
    uaddlp  v4.8h, v0.16b
    uadalp  v6.4s, v4.8h
    ext     v3.16b, v3.16b, v2.16b, #3
    eor     v2.16b, v2.16b, v3.16b
    sub     x3, x1, #64
    st1     {v2.16b, v3.16b}, [x3]
    subs    x2, x2, #1
    b.ne    2b
    subs    x0, x0, #1
    b.ne    1b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .
