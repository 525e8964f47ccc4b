// Small helpers shared by the test guests: console output on the PL011 (the board's, or the
// hypervisor's virtual one: the same code), numbers, and PSCI SYSTEM_OFF over HVC.
// AAPCS64: x0..x7 arguments, clobbers x0..x17 at most; x19..x29 preserved.

// putc(w0 = byte); clobbers x9, x10
putc:
    ldr     x9, =UART_BASE
1:  ldr     w10, [x9, #0x18]            // UARTFR.TXFF: wait while the FIFO is full
    tbnz    w10, #5, 1b
    strb    w0, [x9]
    ret

// puts(x0 = NUL-terminated string)
puts:
    stp     x29, x30, [sp, #-16]!
    mov     x11, x0
1:  ldrb    w0, [x11], #1
    cbz     w0, 2f
    bl      putc
    b       1b
2:  ldp     x29, x30, [sp], #16
    ret

// puthex(x0): "0x" and the value in hexadecimal, no leading zeros
puthex:
    stp     x29, x30, [sp, #-16]!
    mov     x12, x0
    mov     w0, #48                     // '0'
    bl      putc
    mov     w0, #120                    // 'x'
    bl      putc
    mov     x13, #60
    mov     x14, #0
1:  lsr     x0, x12, x13
    and     x0, x0, #0xF
    orr     x14, x14, x0
    cbnz    x14, 2f
    cbnz    x13, 3f
2:  cmp     x0, #10
    add     x1, x0, #48
    add     x0, x0, #87                 // 'a' - 10
    csel    x0, x1, x0, lo
    bl      putc
3:  subs    x13, x13, #4
    b.ge    1b
    ldp     x29, x30, [sp], #16
    ret

// putdec(x0): unsigned decimal
putdec:
    stp     x29, x30, [sp, #-48]!
    add     x12, sp, #47
    strb    wzr, [x12]
    mov     x13, #10
1:  udiv    x14, x0, x13
    msub    x15, x14, x13, x0
    add     x15, x15, #48
    sub     x12, x12, #1
    strb    w15, [x12]
    mov     x0, x14
    cbnz    x0, 1b
    mov     x0, x12
    bl      puts
    ldp     x29, x30, [sp], #48
    ret

// newline: "\n"
newline:
    mov     w0, #10
    b       putc

// system_off: PSCI SYSTEM_OFF over HVC (the guest's conduit); does not return
system_off:
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
1:  wfi
    b       1b

