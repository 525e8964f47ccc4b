// smp: four CPUs started with PSCI CPU_ON, talking through IPIs (GICv3 SGIs).
//
// CPU 0 starts CPUs 1-3 (CPU_ON with their index as context ID). Each sets up its
// redistributor and CPU interface, says it is ready, and sleeps in WFI between interrupts.
// Then: a token passed round the ring 0 -> 1 -> 2 -> 3 -> 0 (SGI 1 by target list, each
// handler forwarding it) NROUNDS times; every CPU greeting every other one at once (CPU n
// sends SGI 4 + n: with affinity routing a GICv3 keeps one pending bit per SGI and target,
// not one per source as GICv2 did, so the senders need INTIDs of their own: 12 IPIs in
// flight); and SGI 3 to all but self (IRM = 1), which tells CPUs 1-3 to turn themselves off
// (CPU_OFF). CPU 0 watches them go with AFFINITY_INFO, prints what every
// CPU counted, and powers off. Only values that do not depend on timing are printed, so the
// output is the same on qemu-system-aarch64 -M virt,gic-version=3 -smp 4 and under armvirt's
// hypervisor (tests/test_hypervisor.py compares them).
//
// Under the hypervisor: `armvirt run --smp 4 build/guests/smp.elf` (four vCPUs, one per PE),
// or `--vm build/guests/smp.elf,vcpus=4,pin=0:0:1:1` (two vCPUs per PE: IPIs to a vCPU on the
// same PE and on another one). Every IPI is a trapped ICC_SGI1R_EL1 write that the hypervisor
// turns into a virtual SGI in the target's list registers.

#include "guest.h"

#define NCPUS       4
#define NROUNDS     20
#define SGI_TOKEN   1
#define SGI_STOP    3
#define SGI_HELLO   4                   // + the sender's number

#define GICD_CTLR       0x0000
#define GICR_WAKER      0x0014
#define GICR_SGI        0x10000
#define GICR_IGROUPR0   (GICR_SGI + 0x0080)
#define GICR_ISENABLER0 (GICR_SGI + 0x0100)
#define GICR_IPRIORITYR (GICR_SGI + 0x0400)

    .global _start
    .type   _start, %function
_start:
    mov     x0, #0
    bl      cpu_setup
    ldr     x1, =GICD_BASE
    mov     w2, #2                      // EnableGrp1
    str     w2, [x1, #GICD_CTLR]
    mov     x19, #1
1:  say     "smp: cpu_on(cpu"           // start the others
    mov     x0, x19
    bl      putdec
    say     ") = "
    ldr     x0, =PSCI_CPU_ON_64
    mov     x1, x19                     // MPIDR affinity: Aff0 = the CPU's number
    adr     x2, secondary
    mov     x3, x19                     // context ID: its number
    hvc     #0
    bl      putsigned
    bl      newline
    add     x19, x19, #1
    cmp     x19, #NCPUS
    b.lo    1b
    mov     x19, #1                     // wait until they are ready
2:  ldr     x1, =ready
    ldr     x2, [x1, x19, lsl #3]
    cbz     x2, 2b
    add     x19, x19, #1
    cmp     x19, #NCPUS
    b.lo    2b
    say     "smp: mpidr"
    mov     x19, #0
3:  mov     w0, #' '
    bl      putc
    ldr     x1, =mpidrs
    ldr     x0, [x1, x19, lsl #3]
    bl      puthex
    add     x19, x19, #1
    cmp     x19, #NCPUS
    b.lo    3b
    bl      newline

    // --- the token ring
    msr     daifclr, #2
    mov     x0, #1
    mov     x1, #SGI_TOKEN
    bl      send_sgi                    // to CPU 1; comes back from CPU 3
    ldr     x19, =ring_done
4:  msr     daifset, #2                 // check, then sleep, without missing the wake-up
    ldr     x2, [x19]
    cbnz    x2, 5f
    wfi
    msr     daifclr, #2
    b       4b
5:  msr     daifclr, #2
    say     "smp: token ring, "
    mov     x0, #NROUNDS
    bl      putdec
    say     " rounds: tokens"
    ldr     x0, =tokens
    bl      print_counts
    bl      newline

    // --- everyone greets everyone
    ldr     x1, =go_hello
    mov     x2, #1
    str     x2, [x1]
    sev
    bl      greet_all
    mov     x0, #0
    bl      wait_hellos
    mov     x19, #1                     // and the others have theirs
6:  ldr     x1, =hellos_done
    ldr     x2, [x1, x19, lsl #3]
    cbz     x2, 6b
    add     x19, x19, #1
    cmp     x19, #NCPUS
    b.lo    6b
    say     "smp: all-to-all: hellos"
    ldr     x0, =hellos
    bl      print_counts
    bl      newline

    // --- stop: SGI 3 to all but self; they turn themselves off
    ldr     x0, =((SGI_STOP << 24) | (1 << 40))
    msr     icc_sgi1r_el1, x0
    isb
    mov     x19, #1
7:  ldr     x0, =PSCI_AFFINITY_INFO_64
    mov     x1, x19
    mov     x2, #0
    hvc     #0
    cmp     x0, #1                      // OFF
    b.ne    7b
    add     x19, x19, #1
    cmp     x19, #NCPUS
    b.lo    7b
    say     "smp: stop to all but self: stops"
    ldr     x0, =stops
    bl      print_counts
    say     "; cpus 1-3 off"
    bl      newline
    say     "smp: done"
    bl      newline
    b       system_off

// ---------------------------------------------------------------------------- CPUs 1-3
secondary:                              // x0 = context ID = the CPU's number
    mov     x19, x0
    bl      cpu_setup
    ldr     x1, =ready
    mov     x2, #1
    str     x2, [x1, x19, lsl #3]
    msr     daifclr, #2                 // tokens arrive as interrupts from now on
    ldr     x20, =go_hello
1:  ldr     x2, [x20]
    cbnz    x2, 2f
    wfe
    b       1b
2:  bl      greet_all
    mov     x0, x19
    bl      wait_hellos
    ldr     x1, =hellos_done
    mov     x2, #1
    str     x2, [x1, x19, lsl #3]
    ldr     x20, =stop_seen
3:  msr     daifset, #2
    ldr     x2, [x20, x19, lsl #3]
    cbnz    x2, 4f
    wfi
    msr     daifclr, #2
    b       3b
4:  ldr     x0, =PSCI_CPU_OFF
    hvc     #0
    b       .

// ---------------------------------------------------------------------------- every CPU
// cpu_setup(x0 = the CPU's number): stack, vectors, TPIDR_EL1 = number, MPIDR recorded, its
// redistributor awake with SGIs 1-3 enabled in Group 1, its CPU interface on.
cpu_setup:
    ldr     x1, =stacks
    add     x2, x0, #1
    add     x1, x1, x2, lsl #12
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    msr     tpidr_el1, x0
    mrs     x2, mpidr_el1
    ldr     x1, =mpidrs
    str     x2, [x1, x0, lsl #3]
    ldr     x1, =GICR_BASE
    mov     x2, #GICR_STRIDE
    madd    x1, x0, x2, x1
    str     wzr, [x1, #GICR_WAKER]
1:  ldr     w2, [x1, #GICR_WAKER]
    tbnz    w2, #2, 1b                  // ChildrenAsleep
    add     x1, x1, #GICR_SGI
    mov     w2, #((1 << SGI_TOKEN) | (1 << SGI_STOP) | (0xF << SGI_HELLO))
    str     w2, [x1, #0x80]             // GICR_IGROUPR0: Group 1
    str     w2, [x1, #0x100]            // GICR_ISENABLER0
    mov     x2, #0xff
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    ret

// send_sgi(x0 = target CPU, x1 = INTID): ICC_SGI1R_EL1 with TargetList = that CPU (Aff0).
send_sgi:
    mov     x2, #1
    lsl     x2, x2, x0
    orr     x2, x2, x1, lsl #24
    msr     icc_sgi1r_el1, x2
    isb
    ret

// greet_all: SGI_HELLO + this CPU's number to every other CPU, one by one.
greet_all:
    stp     x29, x30, [sp, #-32]!
    stp     x19, x20, [sp, #16]
    mrs     x19, tpidr_el1
    mov     x20, #0
1:  cmp     x20, x19
    b.eq    2f
    mov     x0, x20
    add     x1, x19, #SGI_HELLO
    bl      send_sgi
2:  add     x20, x20, #1
    cmp     x20, #NCPUS
    b.lo    1b
    ldp     x19, x20, [sp, #16]
    ldp     x29, x30, [sp], #32
    ret

// wait_hellos(x0 = this CPU): sleep until NCPUS - 1 hellos have arrived.
wait_hellos:
    ldr     x1, =hellos
1:  msr     daifset, #2
    ldr     x2, [x1, x0, lsl #3]
    cmp     x2, #(NCPUS - 1)
    b.hs    2f
    wfi
    msr     daifclr, #2
    b       1b
2:  msr     daifclr, #2
    ret

// print_counts(x0 = array of NCPUS counters): " n n n n"
print_counts:
    stp     x29, x30, [sp, #-32]!
    stp     x19, x20, [sp, #16]
    mov     x19, x0
    mov     x20, #0
1:  mov     w0, #' '
    bl      putc
    ldr     x0, [x19, x20, lsl #3]
    bl      putdec
    add     x20, x20, #1
    cmp     x20, #NCPUS
    b.lo    1b
    ldp     x19, x20, [sp, #16]
    ldp     x29, x30, [sp], #32
    ret

// putsigned(x0): a PSCI return value, signed decimal
putsigned:
    tbz     x0, #63, putdec
    stp     x29, x30, [sp, #-16]!
    neg     x12, x0
    mov     w0, #45                     // '-'
    bl      putc
    mov     x0, x12
    bl      putdec
    ldp     x29, x30, [sp], #16
    ret

// ---------------------------------------------------------------------------- interrupts
irq_handler:
    stp     x0, x1, [sp, #-64]!
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    str     x30, [sp, #48]
    mrs     x0, icc_iar1_el1
    cmp     x0, #1020
    b.hs    9f
    mrs     x1, tpidr_el1
    cmp     x0, #SGI_TOKEN
    b.ne    2f
    ldr     x2, =tokens                 // count it and pass it on, unless it is the last
    ldr     x3, [x2, x1, lsl #3]
    add     x3, x3, #1
    str     x3, [x2, x1, lsl #3]
    cbnz    x1, 1f
    cmp     x3, #NROUNDS
    b.lo    1f
    ldr     x2, =ring_done
    mov     x3, #1
    str     x3, [x2]
    b       8f
1:  add     x2, x1, #1
    cmp     x2, #NCPUS
    csel    x2, xzr, x2, hs
    mov     x3, #1
    lsl     x3, x3, x2
    orr     x3, x3, #(SGI_TOKEN << 24)
    msr     icc_sgi1r_el1, x3
    b       8f
2:  sub     x2, x0, #SGI_HELLO
    cmp     x2, #NCPUS
    b.hs    3f
    ldr     x2, =hellos
    ldr     x3, [x2, x1, lsl #3]
    add     x3, x3, #1
    str     x3, [x2, x1, lsl #3]
    b       8f
3:  cmp     x0, #SGI_STOP
    b.ne    8f
    ldr     x2, =stops
    ldr     x3, [x2, x1, lsl #3]
    add     x3, x3, #1
    str     x3, [x2, x1, lsl #3]
    ldr     x2, =stop_seen
    mov     x3, #1
    str     x3, [x2, x1, lsl #3]
8:  msr     icc_eoir1_el1, x0
9:  ldr     x30, [sp, #48]
    ldp     x4, x5, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp], #64
    eret

    irq_only_vectors smp, irq_handler

#include "guest_lib.S"
    .ltorg

    .balign 64
ready:       .quad 0, 0, 0, 0
mpidrs:      .quad 0, 0, 0, 0
tokens:      .quad 0, 0, 0, 0
ring_done:   .quad 0
go_hello:    .quad 0
hellos:      .quad 0, 0, 0, 0
hellos_done: .quad 0, 0, 0, 0
stops:       .quad 0, 0, 0, 0
stop_seen:   .quad 0, 0, 0, 0
    .balign 4096
stacks:
    .space  4096 * NCPUS
