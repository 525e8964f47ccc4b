// The physical console: the board's PL011 at UART_BASE, shared by every PE (console_lock).
// Every line the hypervisor writes is tagged: "[hv] ..." for its own messages, "[name] ..."
// for a VM's output (host/mmio.S), so that the reader can tell the sources apart.
// Usable at EL2 and from the host part at EL1 (the MMU is off in both).

#define UARTFR_TXFF (1 << 5)

// uart_putc(w0 = byte); clobbers x9, x10 only
    .global uart_putc
    .type   uart_putc, %function
uart_putc:
    phase   host
    ldr     x9, =UART_BASE
1:  ldr     w10, [x9, #0x18]            // UARTFR: wait while the transmit FIFO is full
    tbnz    w10, #5, 1b
    strb    w0, [x9]                    // UARTDR
    ret
    .size   uart_putc, . - uart_putc

// uart_puts(x0 = NUL-terminated string); clobbers x0, x9..x11
    .global uart_puts
    .type   uart_puts, %function
uart_puts:
    push2   x29, x30
    mov     x11, x0
1:  ldrb    w0, [x11], #1
    cbz     w0, 2f
    bl      uart_putc
    b       1b
2:  pop2    x29, x30
    ret
    .size   uart_puts, . - uart_puts

    .global console_lock_take
    .type   console_lock_take, %function
console_lock_take:
    ldr     x9, =console_lock
    spin_lock x9, x10, w11
    ret
    .size   console_lock_take, . - console_lock_take

    .global console_lock_release
    .type   console_lock_release, %function
console_lock_release:
    ldr     x9, =console_lock
    spin_unlock x9
    ret
    .size   console_lock_release, . - console_lock_release

// log_begin: take the console and start a "[hv] " line. log_end: finish it, release.
// In between: log_str, log_hex, log_dec, log_vm_name, log_vcpu and the log_s macro.
// All of them clobber x0..x17 at most and keep x19..x29.
    .global log_begin
    .type   log_begin, %function
log_begin:
    push2   x29, x30
    bl      console_lock_take
    adr     x0, hv_tag
    bl      uart_puts
    pop2    x29, x30
    ret
hv_tag:
    .asciz  "[hv] "
    .balign 4
    .size   log_begin, . - log_begin

    .global log_end
    .type   log_end, %function
log_end:
    push2   x29, x30
    mov     w0, #10
    bl      uart_putc
    bl      console_lock_release
    pop2    x29, x30
    ret
    .size   log_end, . - log_end

    .global log_str
    .type   log_str, %function
log_str:
    b       uart_puts
    .size   log_str, . - log_str

// log_hex(x0): hexadecimal, no leading zeros
    .global log_hex
    .type   log_hex, %function
log_hex:
    push2   x29, x30
    mov     x12, x0
    mov     x13, #60                    // bit position of the current digit
    mov     x14, #0                     // printed a digit yet?
1:  lsr     x0, x12, x13
    and     x0, x0, #0xF
    cbnz    x0, 2f
    cbnz    x14, 2f
    cbz     x13, 2f                     // always print the last digit
    b       3f
2:  mov     x14, #1
    cmp     x0, #10
    add     x1, x0, #'0'
    add     x0, x0, #('a' - 10)
    csel    x0, x1, x0, lo
    bl      uart_putc
3:  subs    x13, x13, #4
    b.ge    1b
    pop2    x29, x30
    ret
    .size   log_hex, . - log_hex

// log_dec(x0): unsigned decimal
    .global log_dec
    .type   log_dec, %function
log_dec:
    push2   x29, x30
    sub     sp, sp, #32
    mov     x12, sp
    add     x12, x12, #31
    strb    wzr, [x12]                  // digits are built backwards, NUL-terminated
    mov     x13, #10
1:  udiv    x14, x0, x13
    msub    x15, x14, x13, x0
    add     x15, x15, #'0'
    sub     x12, x12, #1
    strb    w15, [x12]
    mov     x0, x14
    cbnz    x0, 1b
    mov     x0, x12
    bl      uart_puts
    add     sp, sp, #32
    pop2    x29, x30
    ret
    .size   log_dec, . - log_dec

// log_vm_name(x0 = VM)
    .global log_vm_name
    .type   log_vm_name, %function
log_vm_name:
    add     x0, x0, #VM_NAME
    b       uart_puts
    .size   log_vm_name, . - log_vm_name

// log_vcpu(x0 = vCPU): "VM <name> vCPU <n>"
    .global log_vcpu
    .type   log_vcpu, %function
log_vcpu:
    push2   x29, x30
    push2   x19, x20
    mov     x19, x0
    log_s   "VM "
    ldr     x0, [x19, #VCPU_VM]
    bl      log_vm_name
    log_s   " vCPU "
    ldr     x0, [x19, #VCPU_INDEX]
    bl      log_dec
    pop2    x19, x20
    pop2    x29, x30
    ret
    .size   log_vcpu, . - log_vcpu
