// Macros for the test guests (functions: guest_lib.S, included at the end of each guest).

#ifndef GUEST_H
#define GUEST_H

// Print a constant string.
.macro say text
    adr     x0, 8f
    bl      puts
    b       9f
8:  .asciz  "\text"
    .balign 4
9:
.endm

#endif

// The EL1 vector table of a guest that expects IRQs at EL1 with SP_EL1 only (offset 0x280):
// every other exception prints "<name>: unexpected exception, esr <ESR_EL1>" and powers off.
.macro irq_only_vectors name, irq
unexpected:
    say     "\name: unexpected exception, esr "
    mrs     x0, esr_el1
    bl      puthex
    bl      newline
    b       system_off

    .balign 2048
vectors:
    .rept   5
    b       unexpected
    .balign 128
    .endr
    b       \irq                        // 0x280: IRQ, current EL with SP_ELx
    .balign 128
    .rept   10
    b       unexpected
    .balign 128
    .endr
.endm
