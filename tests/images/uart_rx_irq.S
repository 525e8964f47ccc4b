// Reads the console by the PL011's receive interrupt, as Linux's amba-pl011 driver does, at EL1
// on the `virt` board: the GICv3 distributor, redistributor and CPU interface set up for SPI 1
// (INTID 33), UARTIMSC.RXIM | RTIM set, then WFI until an interrupt. The handler reads UARTMIS,
// clears the interrupt in UARTICR, drains the receive FIFO (UARTDR until UARTFR.RXFE), echoes
// each byte and ends it in the GIC. After a 'q' it prints the first UARTMIS it saw and powers off
// (PSCI SYSTEM_OFF over HVC). Position-independent: run from anywhere in RAM (QEMU's -kernel,
// armvirt's --load-addr, a VM's load-addr=), on the bare board, as a guest of armvirt's
// hypervisor (its virtual PL011 and GIC) and on qemu-system-aarch64 -M virt alike.

#define UART        0x09000000
#define GICD        0x08000000
#define GICR        0x080A0000          // PE 0's redistributor (RD_base; SGI_base + 64 KiB)
#define UART_INTID  33

    .text
    .global _start
    .type   _start, %function
_start:
    adr     x0, stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    ldr     x20, =UART
    mov     x21, #0                     // x21 = the first UARTMIS seen (0: none yet)
    mov     x22, #0                     // x22 = 1 once 'q' has come
    mov     x0, #1                      // ICC_SRE_EL1.SRE: the system register interface
    msr     icc_sre_el1, x0
    isb
    ldr     x1, =GICD
    mov     w0, #0x12                   // GICD_CTLR: ARE | EnableGrp1 (one Security state)
    str     w0, [x1]
    mov     w0, #(1 << (UART_INTID - 32))
    str     w0, [x1, #0x84]             // GICD_IGROUPR1: Group 1
    mov     w0, #0x80
    strb    w0, [x1, #(0x400 + UART_INTID)]     // GICD_IPRIORITYR
    ldr     x2, =(0x6000 + 8 * UART_INTID)
    str     xzr, [x1, x2]               // GICD_IROUTER: PE 0 (Aff 0.0.0.0)
    mov     w0, #(1 << (UART_INTID - 32))
    str     w0, [x1, #0x104]            // GICD_ISENABLER1
    ldr     x1, =GICR
    ldr     w0, [x1, #0x14]             // GICR_WAKER: ProcessorSleep off ...
    bic     w0, w0, #2
    str     w0, [x1, #0x14]
1:  ldr     w0, [x1, #0x14]             // ... until ChildrenAsleep clears
    tbnz    w0, #2, 1b
    mov     x0, #0xFF
    msr     icc_pmr_el1, x0
    mov     x0, #1
    msr     icc_igrpen1_el1, x0
    isb
    mov     w0, #0x50                   // UARTIMSC: RXIM | RTIM
    str     w0, [x20, #0x38]
    adr     x0, ready
    bl      puts
    msr     daifclr, #2                 // IRQs on
2:  wfi
    cbz     x22, 2b
    msr     daifset, #2
    adr     x0, mis_text
    bl      puts
    mov     x0, x21
    bl      puthex8
    mov     w0, #'\n'
    bl      putc
    ldr     w0, =0x84000008             // PSCI SYSTEM_OFF
    hvc     #0
    b       .

// The IRQ handler (current EL with SP_ELx): the receive FIFO, then the GIC.
irq:
    stp     x0, x1, [sp, #-32]!
    stp     x2, x30, [sp, #16]
    mrs     x2, icc_iar1_el1
    cmp     x2, #UART_INTID
    b.ne    9f
    ldr     w0, [x20, #0x40]            // UARTMIS
    cbnz    x21, 1f
    mov     x21, x0
1:  mov     w0, #0x50                   // UARTICR: RX and receive-timeout cleared first, as
    str     w0, [x20, #0x44]            // Linux does: a byte that comes while we drain raises
0:  ldr     w0, [x20, #0x18]            // them again (cleared after, it would be stranded)
    tbnz    w0, #4, 9f                  // RXFE: drained
    ldr     w0, [x20]                   // UARTDR
    and     w0, w0, #0xFF
    cmp     w0, #'q'
    cset    x1, eq
    orr     x22, x22, x1
    bl      putc
    b       0b
9:  msr     icc_eoir1_el1, x2
    ldp     x2, x30, [sp, #16]
    ldp     x0, x1, [sp], #32
    eret

putc:                                   // w0; clobbers w1
1:  ldr     w1, [x20, #0x18]
    tbnz    w1, #5, 1b                  // TXFF
    str     w0, [x20]
    ret

puts:                                   // x0 = NUL-terminated; clobbers x0, x1, x2, x3
    mov     x3, x30
    mov     x2, x0
1:  ldrb    w0, [x2], #1
    cbz     w0, 2f
    bl      putc
    b       1b
2:  ret     x3

puthex8:                                // x0: two hex digits; clobbers x0..x4
    mov     x4, x30
    mov     x2, x0
    ubfx    x0, x2, #4, #4
    bl      1f
    ubfx    x0, x2, #0, #4
    bl      1f
    ret     x4
1:  cmp     x0, #10
    add     x3, x0, #'0'
    add     x0, x0, #('a' - 10)
    csel    x0, x3, x0, lo
    b       putc

ready:
    .asciz  "ready\n"
mis_text:
    .asciz  "\nfirst UARTMIS 0x"
    .balign 4
    .ltorg

    .balign 2048
vectors:                                // VBAR_EL1: only an IRQ from EL1 (SP_EL1) is expected
    .rept   4                           // current EL with SP_EL0
    b       .
    .balign 128
    .endr
    b       .                           // current EL with SP_ELx: synchronous
    .balign 128
    b       irq                         // IRQ
    .balign 128
    .rept   10
    b       .
    .balign 128
    .endr

    .balign 16
    .space  4096
stack_top:
