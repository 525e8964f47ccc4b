// isolation: a guest that reaches outside what it was given, and survives to say what happened.
//
// Under armvirt's hypervisor every one of these must fault, and the fault must come back to
// the guest itself (the hypervisor injects an external abort, or the architecture makes the
// instruction UNDEFINED at EL1), while the hypervisor and the other VMs carry on:
//   - reads and writes of guest-physical addresses just below and just past its RAM (the size
//     comes from the device tree in x0), far above it, at the top of the IPA space, and in a
//     hole of the device map where nothing is emulated;
//   - an instruction fetch just past its RAM;
//   - the hypervisor's own registers (VTTBR_EL2, HCR_EL2) by MRS/MSR from EL1.
// Then it writes a pattern at IPA 0x401F_0000 — the *physical* address of the hypervisor's boot
// manifest — which is simply its own RAM: the test checks that the hypervisor's memory did not
// change and that the pattern landed in the VM's memory.
//
// Needs stage 2 (the hypervisor's default) and a device tree: `armvirt run build/guests/isolation.elf`.

#include "guest.h"

#define PATTERN_IPA     0x401F0000
#define PATTERN         0x150A7104150A7104
#define IPA_TOP         0x7FFFFFF000    // the last page of the 39-bit IPA space
#define DEVICE_HOLE     0x0A000000      // virtio-mmio slot 0: nothing emulated there

    .global _start
    .type   _start, %function
_start:
    mov     x28, x0                     // the DTB
    adr     x0, stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    isb
    mov     x0, x28
    bl      fdt_memory                  // x0 = RAM base, x1 = size, or x1 = 0
    cbz     x1, no_dtb
    add     x27, x0, x1                 // x27 = end of RAM
    mov     x26, #0                     // attempts
    mov     x25, #0                     // of which faulted as they should

    say     "isolation: read just below RAM"
    ldr     x0, =0x40000000 - 0x1000
    bl      try_read
    say     "isolation: write just past RAM"
    mov     x0, x27
    bl      try_write
    say     "isolation: read 256 MiB past RAM"
    mov     x0, #0x10000000
    add     x0, x27, x0
    bl      try_read
    say     "isolation: write the top of the IPA space"
    ldr     x0, =IPA_TOP
    bl      try_write
    say     "isolation: read a device hole"
    ldr     x0, =DEVICE_HOLE
    bl      try_read
    say     "isolation: execute just past RAM"
    mov     x0, x27
    bl      try_exec
    say     "isolation: MRS VTTBR_EL2"
    bl      try_mrs_el2
    say     "isolation: MSR HCR_EL2"
    bl      try_msr_el2

    say     "isolation: "
    mov     x0, x25
    bl      putdec
    say     " of "
    mov     x0, x26
    bl      putdec
    say     " forbidden accesses faulted"
    bl      newline
    ldr     x0, =PATTERN_IPA            // the hypervisor's manifest address, as an IPA
    ldr     x1, =PATTERN
    str     x1, [x0]
    ldr     x2, [x0]
    cmp     x2, x1
    b.ne    1f
    say     "isolation: wrote 0x401f0000 (its own RAM) and read it back"
    bl      newline
1:  b       system_off

no_dtb:
    say     "isolation: no device tree in x0 (run it under the hypervisor with stage 2)"
    bl      newline
    b       system_off

// Each try_*: one access that must fault. The exception handler records the class in
// last_ec and resumes after the access; these print ": faulted (EC 0x..)" or ": NOT faulted".
try_read:
    stp     x29, x30, [sp, #-16]!
    bl      arm
    ldr     x1, [x0]
    b       judge
try_write:
    stp     x29, x30, [sp, #-16]!
    bl      arm
    str     x0, [x0]
    b       judge
try_exec:
    stp     x29, x30, [sp, #-16]!
    bl      arm
    blr     x0                          // the handler returns to the instruction after this
    b       judge
try_mrs_el2:
    stp     x29, x30, [sp, #-16]!
    bl      arm
    mrs     x1, vttbr_el2
    b       judge
try_msr_el2:
    stp     x29, x30, [sp, #-16]!
    bl      arm
    msr     hcr_el2, xzr
    b       judge

arm:                                    // last_ec = -1 (no exception yet); keeps x0
    adr     x9, last_ec
    mov     x10, #-1
    str     x10, [x9]
    add     x26, x26, #1
    ret

judge:
    adr     x9, last_ec
    ldr     x19, [x9]
    cmn     x19, #1
    b.eq    1f
    add     x25, x25, #1
    say     ": faulted (EC 0x"
    mov     x0, x19
    bl      puthex_digits
    say     ")"
    b       2f
1:  say     ": NOT faulted"
2:  bl      newline
    ldp     x29, x30, [sp], #16
    ret

// puthex_digits(x0): hexadecimal without the 0x
puthex_digits:
    stp     x29, x30, [sp, #-16]!
    mov     x12, x0
    cmp     x12, #16
    b.lo    1f
    lsr     x0, x12, #4
    and     x0, x0, #0xF
    bl      hexdigit
1:  and     x0, x12, #0xF
    bl      hexdigit
    ldp     x29, x30, [sp], #16
    ret
hexdigit:
    cmp     x0, #10
    add     x1, x0, #48
    add     x0, x0, #87
    csel    x0, x1, x0, lo
    b       putc

// fdt_memory(x0 = DTB) -> x0 = base, x1 = size of the /memory node's first reg entry
// (Devicetree Specification v0.4, 5 "Flattened Devicetree (DTB) Format"; big-endian cells,
// #address-cells = #size-cells = 2 as on virt). x1 = 0 when there is no DTB or no such node.
#define FDT_MAGIC       0xD00DFEED
#define FDT_BEGIN_NODE  1
#define FDT_END_NODE    2
#define FDT_PROP        3
#define FDT_NOP         4
fdt_memory:
    mov     x1, #0
    cbz     x0, 9f
    ldr     w2, [x0]
    rev     w2, w2
    ldr     w3, =FDT_MAGIC
    cmp     w2, w3
    b.ne    9f
    ldr     w2, [x0, #8]                // off_dt_struct
    rev     w2, w2
    add     x2, x0, x2                  // x2 = token pointer
    ldr     w3, [x0, #12]               // off_dt_strings
    rev     w3, w3
    add     x3, x0, x3
    mov     x4, #0                      // inside a memory node?
1:  ldr     w5, [x2], #4
    rev     w5, w5
    cmp     w5, #FDT_BEGIN_NODE
    b.ne    3f
    ldr     w6, [x2]                    // the name: "memory@..." ?
    ldr     w7, =0x6F6D656D             // "memo", little-endian
    cmp     w6, w7
    cset    x4, eq
2:  ldrb    w6, [x2], #1                // skip the name and its padding
    cbnz    w6, 2b
    add     x2, x2, #3
    and     x2, x2, #~3
    b       1b
3:  cmp     w5, #FDT_END_NODE
    b.ne    4f
    mov     x4, #0
    b       1b
4:  cmp     w5, #FDT_NOP
    b.eq    1b
    cmp     w5, #FDT_PROP
    b.ne    9f                          // FDT_END or garbage
    ldr     w6, [x2], #4                // len
    rev     w6, w6
    ldr     w7, [x2], #4                // nameoff
    rev     w7, w7
    cbz     x4, 5f
    add     x8, x3, x7                  // the name "reg"? (byte loads: with the MMU off
    ldrb    w9, [x8]                    //   every access is to Device memory, which must
    cmp     w9, #0x72                   //   be aligned)
    b.ne    5f
    ldrb    w9, [x8, #1]
    cmp     w9, #0x65
    b.ne    5f
    ldrb    w9, [x8, #2]
    cmp     w9, #0x67
    b.ne    5f
    ldrb    w9, [x8, #3]
    cbnz    w9, 5f
    ldp     w0, w10, [x2]               // address: two big-endian cells
    rev     w0, w0
    rev     w10, w10
    orr     x0, x10, x0, lsl #32
    ldp     w1, w10, [x2, #8]           // size
    rev     w1, w1
    rev     w10, w10
    orr     x1, x10, x1, lsl #32
    ret
5:  add     x2, x2, x6
    add     x2, x2, #3
    and     x2, x2, #~3
    b       1b
9:  ret

// EL1 exceptions: record the class and step over what faulted.
    .balign 0x800
vectors:
    .rept   4
    .balign 0x80
    b       unexpected
    .endr
    .balign 0x80                        // current EL with SP_EL1: synchronous
    b       el1_sync
    .rept   11
    .balign 0x80
    b       unexpected
    .endr

el1_sync:
    mrs     x9, esr_el1
    lsr     x9, x9, #26
    adr     x10, last_ec
    str     x9, [x10]
    cmp     x9, #0x21                   // instruction abort: back to the caller of the branch
    b.ne    1f
    msr     elr_el1, x30
    eret
1:  mrs     x10, elr_el1                // data abort, UNDEFINED: skip the instruction
    add     x10, x10, #4
    msr     elr_el1, x10
    eret

unexpected:
    say     "isolation: unexpected exception, ESR_EL1="
    mrs     x0, esr_el1
    bl      puthex
    bl      newline
    b       system_off

#include "guest_lib.S"
    .ltorg
    .balign 8
last_ec:
    .quad   0
    .balign 16
    .space  4096
stack_top:
