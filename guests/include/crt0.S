// The start-up code of a C guest (armvirt/build.py links it before the guest's .c file): a
// stack, main(), then PSCI SYSTEM_OFF with main's result in nothing — the guest prints what it
// has to say. Entered at EL1 under the hypervisor (PSCI over HVC), or at EL2 bare with
// `--el 2`, where the board answers SMC. FP/SIMD stays trapped (CPACR_EL1.FPEN reset value):
// C guests are built with -mgeneral-regs-only unless they enable it themselves.

    .section .text.boot, "ax"
    .global _start
    .type   _start, %function
_start:
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
