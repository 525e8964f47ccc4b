// hello: print a line on the PL011 and power off with PSCI SYSTEM_OFF.
//
// Runs bare on the virt board (armvirt run --bare, or qemu-system-aarch64 -M virt -kernel)
// and as a guest of our hypervisor. Entered at EL1 the PSCI conduit is HVC; entered at EL2
// (armvirt run --el 2) there is no hypervisor below us and the board answers SMC.

    .text
    .global _start
    .type   _start, %function
_start:
    ldr     x1, =UART_BASE
    adr     x2, message
1:  ldrb    w3, [x2], #1
    cbz     w3, 2f
    strb    w3, [x1]            // UARTDR: transmit one byte
    b       1b
2:  ldr     x0, =PSCI_SYSTEM_OFF
    mrs     x4, CurrentEL
    cmp     x4, #(2 << 2)
    b.eq    3f
    hvc     #0
    b       .
3:  smc     #0
    b       .
    .size   _start, . - _start

message:
    .asciz  "Hello from armvirt!\n"
