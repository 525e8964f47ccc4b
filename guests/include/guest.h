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
