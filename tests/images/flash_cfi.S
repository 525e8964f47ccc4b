// Exercises the `virt` board's CFI flash the way firmware does, printing every answer on the
// PL011, so that tests/test_flash.py can compare armvirt --bios with qemu-system-aarch64 -M virt
// (pflash0 a read-only drive, pflash1 a writable one) byte for byte.
//
// Booted from flash bank 0 at 0x0 at EL2, it first copies itself to RAM and continues there, so
// that it can also send commands to bank 0 (a bank out of read-array mode cannot be executed
// from). Each line printed is "tag value" with the value in hex. A command is written to both
// x16 devices of the 32-bit bus: 0x00CC00CC for command 0xCC.

#define UART   0x09000000
#define BANK0  0x00000000
#define BANK1  0x04000000
#define RUNAT  0x40100000

    .text
    .global _start
    .type   _start, %function
_start:
    adr     x0, _start
    ldr     x1, =RUNAT
    adr     x2, image_end
1:  ldr     x3, [x0], #8                // copy the image to RAM ...
    str     x3, [x1], #8
    cmp     x0, x2
    b.lo    1b
    ldr     x1, =RUNAT
    adr     x0, _start
    adr     x2, in_ram
    sub     x2, x2, x0
    add     x1, x1, x2
    br      x1                          // ... and go on there

in_ram:
    ldr     x20, =UART
    ldr     x21, =BANK1
    ldr     x22, =BANK0

    // CFI query: 0x98 at word address 0x55, then words 0x10.. of the table.
    ldr     w0, =0x00980098
    str     w0, [x21, #0x55 * 4]
    mov     x23, #0x10
2:  lsl     x1, x23, #2
    ldr     w1, [x21, x1]
    mov     w0, #'Q'
    bl      show
    add     x23, x23, #1
    cmp     x23, #0x40
    b.lo    2b
    ldr     x1, [x21, #0x10 * 4]        // a 64-bit read: two bus cycles
    mov     w0, #'D'
    bl      show
    ldrb    w1, [x21, #0x11 * 4 + 1]    // narrower reads see the low bytes of the bus word
    mov     w0, #'b'
    bl      show
    ldrh    w1, [x21, #0x12 * 4 + 2]
    mov     w0, #'h'
    bl      show

    // Still in query mode: only 0xFF leaves it (QEMU); then read identifier: manufacturer
    // and device codes.
    ldr     w0, =0x00900090
    str     w0, [x21]
    ldr     w1, [x21, #0x10 * 4]
    mov     w0, #'q'
    bl      show
    ldr     w0, =0x00ff00ff
    str     w0, [x21]
    ldr     w0, =0x00900090
    str     w0, [x21]
    ldr     w1, [x21, #0]
    mov     w0, #'I'
    bl      show
    ldr     w1, [x21, #4]
    mov     w0, #'I'
    bl      show
    ldr     w1, [x21, #8]
    mov     w0, #'I'
    bl      show

    // Back to read array: the bank's (empty) contents.
    ldr     w0, =0x00ff00ff
    str     w0, [x21]
    ldr     w1, [x21, #0x100]
    mov     w0, #'A'
    bl      show

    // Word program, status, read back.
    ldr     w0, =0x00400040
    str     w0, [x21, #0x100]
    ldr     w0, =0x12345678
    str     w0, [x21, #0x100]
    ldr     w1, [x21, #0x100]           // the status register after a program
    mov     w0, #'S'
    bl      show
    ldr     w0, =0x00ff00ff
    str     w0, [x21]
    ldr     x1, [x21, #0x100]
    mov     w0, #'P'
    bl      show

    // Write to buffer: 0xE8, count - 1 (per device), 4 bus words, confirm.
    ldr     x24, =0x40000               // in the second erase block
    add     x24, x24, x21
    ldr     w0, =0x00e800e8
    str     w0, [x24]
    ldr     w1, [x24]
    mov     w0, #'S'
    bl      show
    ldr     w0, =0x00030003
    str     w0, [x24]
    ldr     w0, =0xa1a2a3a4
    str     w0, [x24]
    ldr     w0, =0xb1b2b3b4
    str     w0, [x24, #4]
    ldr     w0, =0xc1c2c3c4
    str     w0, [x24, #8]
    ldr     w0, =0xd1d2d3d4
    str     w0, [x24, #12]
    ldr     w0, =0x00d000d0
    str     w0, [x24]
    ldr     w1, [x24]
    mov     w0, #'S'
    bl      show
    ldr     w0, =0x00ff00ff
    str     w0, [x24]
    ldr     x1, [x24]
    mov     w0, #'W'
    bl      show
    ldr     x1, [x24, #8]
    mov     w0, #'W'
    bl      show

    // Block erase of the first block (with the word programmed above), status, read back.
    ldr     w0, =0x00500050              // clear status
    str     w0, [x21]
    ldr     w0, =0x00200020
    str     w0, [x21, #0x100]
    ldr     w0, =0x00d000d0
    str     w0, [x21, #0x100]
    ldr     w1, [x21]
    mov     w0, #'S'
    bl      show
    ldr     w0, =0x00700070              // read status register
    str     w0, [x21]
    ldr     x1, [x21]
    mov     w0, #'s'
    bl      show
    ldr     w0, =0x00ff00ff
    str     w0, [x21]
    ldr     w1, [x21, #0x100]
    mov     w0, #'E'
    bl      show
    ldr     x1, [x24]                   // the next block keeps the buffer's data
    mov     w0, #'E'
    bl      show

    // Lock/unlock are accepted.
    ldr     w0, =0x00600060
    str     w0, [x21]
    ldr     w0, =0x00d000d0
    str     w0, [x21]
    ldr     w1, [x21]
    mov     w0, #'L'
    bl      show
    ldr     w0, =0x00ff00ff
    str     w0, [x21]

    // Bank 0 is read-only: a program reports a programming error, an erase an erase error,
    // and the firmware's bytes stay.
    ldr     w0, =0x00500050
    str     w0, [x22]
    ldr     w0, =0x00400040
    str     w0, [x22, #0x8]
    str     wzr, [x22, #0x8]
    ldr     w1, [x22]
    mov     w0, #'R'
    bl      show
    ldr     w0, =0x00500050
    str     w0, [x22]
    ldr     w0, =0x00200020
    str     w0, [x22]
    ldr     w0, =0x00d000d0
    str     w0, [x22]
    ldr     w1, [x22]
    mov     w0, #'R'
    bl      show
    ldr     w0, =0x00500050
    str     w0, [x22]
    ldr     x1, [x22, #0x8]
    mov     w0, #'F'
    bl      show

    // Leave data in bank 1 for the file written back: a word at the very end of the bank.
    ldr     x24, =0x3fffffc
    add     x24, x24, x21
    ldr     w0, =0x00100010
    str     w0, [x24]
    ldr     w0, =0xcafef00d
    str     w0, [x24]
    ldr     w0, =0x00ff00ff
    str     w0, [x24]
    ldr     w1, [x24]
    mov     w0, #'T'
    bl      show

    mov     w0, #'.'
    str     w0, [x20]
    mov     w0, #'\n'
    str     w0, [x20]
    ldr     w0, =0x84000008             // PSCI SYSTEM_OFF
    smc     #0
    b       .

// show: print "<w0> <x1 in hex>\n" (x0-x3 clobbered)
show:
    str     w0, [x20]
    mov     w0, #' '
    str     w0, [x20]
    mov     x2, #60
3:  lsr     x3, x1, x2
    and     x3, x3, #0xf
    cmp     x3, #10
    add     x0, x3, #'0'
    add     x3, x3, #'a' - 10
    csel    x0, x3, x0, hs
    str     w0, [x20]
    subs    x2, x2, #4
    b.ge    3b
    mov     w0, #'\n'
    str     w0, [x20]
    ret

    .ltorg
    .balign 8
image_end:
