// psci: PSCI from a guest's point of view (Arm DEN 0022): version and features, starting a
// second CPU with CPU_ON (it stores its context ID and turns itself off with CPU_OFF), watching
// it with AFFINITY_INFO, starting it again, and the error codes for a CPU that is already on
// and one that does not exist. Then SYSTEM_OFF. (The output is the same on QEMU -M virt.)
//
// Needs two CPUs: `armvirt run build/guests/psci.elf --smp 2` (two vCPUs under the hypervisor;
// with --bare, two PEs and the board's PSCI). Only CPU 0 prints; position-independent.

#include "guest.h"

// Target CPUs are named by the affinity fields of their MPIDR (as the DT's cpu "reg" gives
// them; bit 31 of MPIDR is not an affinity field, and QEMU's PSCI does not accept it).
#define MPIDR_CPU1      0x1
#define MPIDR_NONE      0x7

    .global _start
    .type   _start, %function
_start:
    adr     x0, stack_top
    mov     sp, x0
    say     "psci: version "
    ldr     x0, =PSCI_VERSION
    hvc     #0
    bl      puthex
    bl      newline
    say     "psci: features(CPU_ON) = "
    ldr     x0, =PSCI_FEATURES
    ldr     x1, =PSCI_CPU_ON_64
    hvc     #0
    bl      putsigned
    say     ", features(0x8400001f) = "
    ldr     x0, =PSCI_FEATURES
    ldr     x1, =0x8400001F
    hvc     #0
    bl      putsigned
    bl      newline
    say     "psci: affinity_info(cpu1) = "
    bl      affinity_cpu1
    bl      putsigned
    bl      newline

    mov     x19, #0x1234                // start CPU 1 twice, with two context IDs
    bl      start_cpu1
    mov     x19, #0x5678
    bl      start_cpu1

    say     "psci: cpu_on(cpu0, itself) = "
    ldr     x0, =PSCI_CPU_ON_64
    mrs     x1, mpidr_el1
    and     x1, x1, #0xFFFFFF
    adr     x2, secondary
    mov     x3, #0
    hvc     #0
    bl      putsigned
    bl      newline
    say     "psci: cpu_on(no such cpu) = "
    ldr     x0, =PSCI_CPU_ON_64
    ldr     x1, =MPIDR_NONE
    adr     x2, secondary
    mov     x3, #0
    hvc     #0
    bl      putsigned
    bl      newline
    say     "psci: done"
    bl      newline
    b       system_off

// start_cpu1: CPU_ON with context ID x19, wait until it reported and is off again.
start_cpu1:
    stp     x29, x30, [sp, #-16]!
    adr     x20, mailbox
    str     xzr, [x20]
    say     "psci: cpu_on(cpu1) = "
    ldr     x0, =PSCI_CPU_ON_64
    ldr     x1, =MPIDR_CPU1
    adr     x2, secondary
    mov     x3, x19
    hvc     #0
    bl      putsigned
1:  ldr     x0, [x20]                   // its context ID arrives in the mailbox
    cbz     x0, 1b
    mov     x21, x0
2:  bl      affinity_cpu1               // then it turns itself off
    cmp     x0, #1
    b.ne    2b
    say     "; it ran with context "
    mov     x0, x21
    bl      puthex
    say     " and is off again"
    bl      newline
    ldp     x29, x30, [sp], #16
    ret

affinity_cpu1:
    ldr     x0, =PSCI_AFFINITY_INFO_64
    ldr     x1, =MPIDR_CPU1
    mov     x2, #0
    hvc     #0
    ret

// putsigned(x0): a PSCI return value, signed decimal
putsigned:
    tbz     x0, #63, putdec
    stp     x29, x30, [sp, #-16]!
    neg     x12, x0
    mov     w0, #45                     // '-'
    bl      putc                        // (keeps x12)
    mov     x0, x12
    bl      putdec
    ldp     x29, x30, [sp], #16
    ret

// CPU 1 starts here (x0 = context ID, MMU off): report, then CPU_OFF.
secondary:
    adr     x1, mailbox
    str     x0, [x1]
    dsb     sy
    ldr     x0, =PSCI_CPU_OFF
    hvc     #0
1:  b       1b                          // CPU_OFF does not return

#include "guest_lib.S"
    .ltorg
    .balign 16
mailbox:
    .quad   0
    .space  4096
stack_top:
