// mmu: a tiny kernel that turns on stage 1 translation, runs a program at EL0, and serves its
// system calls (SVC) at EL1.
//
// The point for a hypervisor: none of this involves EL2. SVC from EL0 is taken to EL1
// (HCR_EL2.TGE = 0), stage-1 faults of EL0 go to EL1, the guest's page tables are the guest's
// business; the hypervisor only sees the accesses to the (virtual) UART. Under armvirt's
// hypervisor `--exit-stats` shows it: MMIO exits and the final HVC, nothing else.
//
// Memory (identity mapped, 4 KiB granule, 39-bit VA, walk from level 1):
//   0x0000_0000 1 GiB block   Device-nGnRnE, EL1 only, never executable (the UART is here)
//   0x4000_0000 2 MiB block   Normal, EL1 read/write, EL1-executable: this kernel
//   0x4020_0000 2 MiB block   Normal, EL0 and EL1 read/write, EL0-executable: the user program
// The user program prints a line and a number through system calls, tries to write the
// kernel's memory (a permission fault, handled at EL1), and exits.

#include "guest.h"

#define USER_BASE       0x40200000
#define USER_STACK_TOP  (USER_BASE + 0x10000)
#define SYS_EXIT        0
#define SYS_PUTC        1
#define SYS_GETPID      2
#define SYS_PUTDEC      3

    .global _start
    .type   _start, %function
_start:
    adr     x0, kstack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    // the tables: level 1 (two entries) and one level-2 table
    adr     x1, l1_table
    adr     x2, l2_table
    ldr     x3, =(1 | (1 << 2) | (1 << 10) | (1 << 53) | (1 << 54))  // device block at 0
    str     x3, [x1, #0]
    orr     x3, x2, #3                  // table descriptor for 0x4000_0000..0x7FFF_FFFF
    str     x3, [x1, #8]
    ldr     x3, =(0x40000000 | 1 | (3 << 8) | (1 << 10) | (1 << 54))           // kernel
    str     x3, [x2, #0]
    ldr     x3, =(USER_BASE | 1 | (1 << 6) | (3 << 8) | (1 << 10) | (1 << 53)) // user
    str     x3, [x2, #8]
    dsb     sy
    mov     x0, #0x00FF                 // MAIR: Attr0 Normal write-back, Attr1 Device-nGnRnE
    msr     mair_el1, x0
    ldr     x0, =(25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2 << 30) | (2 << 32))
    msr     tcr_el1, x0                 // T0SZ 25, WB, inner shareable, no TTBR1, 40-bit IPA
    msr     ttbr0_el1, x1
    tlbi    vmalle1
    dsb     sy
    isb
    mrs     x0, sctlr_el1
    orr     x0, x0, #(1 << 0)           // M
    orr     x0, x0, #(1 << 2)           // C
    orr     x0, x0, #(1 << 12)          // I
    msr     sctlr_el1, x0
    isb
    say     "mmu: stage 1 on, entering EL0"
    bl      newline
    adr     x0, user_start              // copy the user program to its page
    adr     x1, user_end
    ldr     x2, =USER_BASE
1:  ldr     w3, [x0], #4
    str     w3, [x2], #4
    cmp     x0, x1
    b.lo    1b
    dsb     sy
    ic      iallu
    isb
    ldr     x0, =USER_STACK_TOP
    msr     sp_el0, x0
    ldr     x0, =USER_BASE
    msr     elr_el1, x0
    mov     x0, #0x3C0                  // EL0t, DAIF masked
    msr     spsr_el1, x0
    eret

// ---- the user program (EL0; position-independent, copied to USER_BASE)
    .balign 8
user_start:
    adr     x19, user_msg
1:  ldrb    w0, [x19], #1
    cbz     w0, 2f
    svc     #SYS_PUTC
    b       1b
2:  svc     #SYS_GETPID
    add     x0, x0, #1
    svc     #SYS_PUTDEC                 // prints getpid() + 1
    mov     x1, #0x40000000             // the kernel's memory: EL1 only
    str     x0, [x1]
    svc     #SYS_EXIT
3:  b       3b
user_msg:
    .asciz  "mmu: hello from EL0 through SVC, pid + 1 = "
    .balign 4
user_end:

// ---- EL1: exceptions from EL0
    .balign 0x800
vectors:
    .rept   8
    .balign 0x80
    b       unexpected
    .endr
    .balign 0x80                        // lower EL, AArch64, synchronous
    b       el0_sync
    .rept   7
    .balign 0x80
    b       unexpected
    .endr

el0_sync:
    sub     sp, sp, #(20 * 8)           // the user's caller-saved registers
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x29, x30, [sp, #144]
    mrs     x9, esr_el1
    lsr     x10, x9, #26
    cmp     x10, #0x15                  // SVC from AArch64
    b.eq    svc
    cmp     x10, #0x24                  // data abort from EL0
    b.ne    unexpected
    and     x10, x9, #0x3C
    cmp     x10, #0x0C                  // a permission fault
    b.ne    unexpected
    say     "mmu: EL0 wrote to kernel memory: permission fault, handled at EL1"
    bl      newline
    mrs     x0, elr_el1                 // skip the store
    add     x0, x0, #4
    msr     elr_el1, x0
    b       ret_user
svc:
    adr     x10, syscalls               // count it (in memory: the registers are the user's)
    ldr     x11, [x10]
    add     x11, x11, #1
    str     x11, [x10]
    and     x9, x9, #0xFFFF
    ldr     x0, [sp, #0]
    cmp     x9, #SYS_PUTC
    b.ne    1f
    bl      putc
    b       ret_user
1:  cmp     x9, #SYS_GETPID
    b.ne    2f
    mov     x0, #42
    str     x0, [sp, #0]                // the result, in the user's x0
    b       ret_user
2:  cmp     x9, #SYS_PUTDEC
    b.ne    3f
    bl      putdec
    bl      newline
    b       ret_user
3:  cmp     x9, #SYS_EXIT
    b.ne    unexpected
    say     "mmu: EL0 made "
    adr     x0, syscalls
    ldr     x0, [x0]
    bl      putdec
    say     " system calls and exited"
    bl      newline
    b       system_off
ret_user:
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x29, x30, [sp, #144]
    add     sp, sp, #(20 * 8)
    eret

unexpected:
    say     "mmu: unexpected exception, ESR_EL1="
    mrs     x0, esr_el1
    bl      puthex
    say     " ELR_EL1="
    mrs     x0, elr_el1
    bl      puthex
    bl      newline
    b       system_off

#include "guest_lib.S"
    .ltorg
    .balign 8
syscalls:
    .quad   0
    .balign 4096
l1_table:
    .space  4096
l2_table:
    .space  4096
    .space  8192
kstack_top:
