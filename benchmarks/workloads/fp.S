// fp: a floating-point loop: scalar FMADD, FDIV, FSUB, a round trip through FCVTZS/SCVTF,
// FCMP/FCSEL, and vector FMLA/FMUL (4S). ITERS iterations of 11 instructions (9 FP), then
// PSCI SYSTEM_OFF. The values stay bounded and finite: no NaN/denormal paths on the way.
#include "prologue.inc"

main:
    mov     x0, #(3 << 20)                // CPACR_EL1.FPEN: no FP/SIMD traps at EL1/EL0
    msr     cpacr_el1, x0
    isb
    ldr     x0, =ITERS
    fmov    d0, #1.0
    fmov    d1, #0.5
    fmov    d2, #1.5
    fmov    v4.4s, #1.0
    fmov    v5.4s, #0.5
    fmov    v6.4s, #0.25
1:  fmadd   d3, d0, d1, d2                // 2.0
    fdiv    d4, d3, d2                    // 1.333...
    fsub    d5, d4, d1
    fcvtzs  x2, d5
    scvtf   d6, x2
    fmla    v4.4s, v5.4s, v6.4s
    fmul    v7.4s, v4.4s, v5.4s
    fcmp    d5, d6
    fcsel   d7, d5, d6, gt
    subs    x0, x0, #1
    b.ne    1b
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .
