// Boots from flash, counts its boots in flash bank 1 (one programmed word per boot) and asks for
// a system reset (PSCI SYSTEM_RESET) until it has booted four times, then powers off: the
// board must restart the firmware from flash with bank 1 kept, as QEMU does.

#define UART   0x09000000
#define BANK1  0x04000000

    .text
    .global _start
    .type   _start, %function
_start:
    ldr     x20, =UART
    ldr     x21, =BANK1
    mov     x1, #0
1:  ldr     w2, [x21, x1, lsl #2]      // boots so far: the words already programmed
    cbz     w2, 2f
    add     x1, x1, #1
    b       1b
2:  mov     w0, #'b'
    str     w0, [x20]
    add     w0, w1, #'0'
    str     w0, [x20]
    mov     w0, #'\n'
    str     w0, [x20]
    cmp     x1, #3
    b.hs    3f
    ldr     w0, =0x00400040            // word program: this boot's word
    str     w0, [x21, x1, lsl #2]
    ldr     w0, =0x0b0b0b0b
    str     w0, [x21, x1, lsl #2]
    ldr     w0, =0x00ff00ff            // back to read array
    str     w0, [x21]
    ldr     w0, =0x84000009            // PSCI SYSTEM_RESET
    smc     #0
    b       .
3:  ldr     w0, =0x84000008            // PSCI SYSTEM_OFF
    smc     #0
    b       .
    .ltorg
