// The start-up code of a C guest (armvirt/build.py links it before the guest's .c file):
// FP/SIMD enabled, a stack, main(), then PSCI SYSTEM_OFF with main's result in nothing — the
// guest prints what it has to say. Entered at EL1 under the hypervisor (PSCI over HVC), or at
// EL2 bare with `--el 2`, where the board answers SMC. Compiled C uses FP/SIMD registers for
// more than floating point (struct copies, vectorised loops), so they are enabled here:
// CPACR_EL1.FPEN = 0b11 at EL1; at EL2, CPTR_EL2.TFP = 0 (its other bits RES1, 0x33FF).

    .section .text.boot, "ax"
    .global _start
    .type   _start, %function
_start:
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.eq    2f
    mov     x0, #(3 << 20)
    msr     cpacr_el1, x0
    b       3f
2:  mov     x0, #0x33ff
    msr     cptr_el2, x0
3:  isb
    adr     x0, __stack_top
    mov     sp, x0
    bl      main
    ldr     x0, =PSCI_SYSTEM_OFF
    mrs     x1, CurrentEL
    cmp     x1, #(2 << 2)
    b.eq    1f
    hvc     #0
    b       .
1:  smc     #0
    b       .
    .size   _start, . - _start
    .ltorg

    .bss
    .balign 16
__stack:
    .space  16384
__stack_top:
