// Console output on the PL011 for bare test guests (no stack use beyond x30 saves).
//   putc: w0 = character            puts: x0 = address of a NUL-terminated string
//   putdec: x0 = unsigned value     puthex: x0 = value, printed as 0x...
// All clobber x0-x7 and x9 only.

putc:
    ldr     x9, =UART_BASE
    strb    w0, [x9]
    ret

puts:
    ldr     x9, =UART_BASE
1:  ldrb    w1, [x0], #1
    cbz     w1, 2f
    strb    w1, [x9]
    b       1b
2:  ret

putdec:                         // x0: value; digits built on the stack area below sp
    ldr     x9, =UART_BASE
    mov     x2, #10
    sub     x3, sp, #32         // a scratch buffer below the stack pointer
    mov     x4, x3
1:  udiv    x5, x0, x2
    msub    x6, x5, x2, x0
    add     x6, x6, #'0'
    strb    w6, [x4], #1
    mov     x0, x5
    cbnz    x0, 1b
2:  ldrb    w6, [x4, #-1]!
    strb    w6, [x9]
    cmp     x4, x3
    b.ne    2b
    ret

puthex:                         // x0: value
    ldr     x9, =UART_BASE
    mov     w1, #'0'
    strb    w1, [x9]
    mov     w1, #'x'
    strb    w1, [x9]
    mov     x2, #60             // skip leading zero nibbles
1:  lsr     x3, x0, x2
    cbnz    x3, 2f
    subs    x2, x2, #4
    b.gt    1b
2:  lsr     x3, x0, x2
    and     x3, x3, #0xf
    cmp     x3, #10
    add     x4, x3, #'0'
    add     x5, x3, #('a' - 10)
    csel    x3, x4, x5, lt
    strb    w3, [x9]
    subs    x2, x2, #4
    b.ge    2b
    ret
