// microbench: the KVM/ARM microbenchmarks (Dall et al., ISCA 2016; definitions in
// ../shared/reference/microbenchmarks.md) measured from inside a guest of armvirt's hypervisor
// with the PMU's cycle counter, PMCCNTR_EL0, counting at EL0, EL1 and EL2 (PMCCFILTR_EL0.NSH:
// the hypervisor's cycles are the point). Every figure is the average over N runs of
// (PMCCNTR after - PMCCNTR before), each reading between two ISBs, minus the same pair of
// readings with nothing in between. benchmarks/hv.py runs it and prints the table.
//
// Two vCPUs (`--vm build/guests/microbench.elf,vcpus=2`, pinned to two PEs): vCPU 0 measures,
// vCPU 1 answers IPIs.
//   hypercall       HVC #0 with ARMVIRT_HC_NOP: to the hypervisor and back, nothing done there
//   gicd_iidr       a load of GICD_IIDR: trap, decode, the emulated distributor, return
//   virtual_ipi     half of a round trip: SGI to vCPU 1 on the other PE, whose handler sends one
//                   back; to vCPU 0's handler (both vCPUs asleep in WFI while they wait)
//   virtual_eoi     ICC_EOIR1_EL1 of a virtual interrupt in the handler: no trap
//   io_out          a doorbell write until the backend sees it (DOORBELL_SEEN_PMC)
//   io_in           the backend raising the doorbell's interrupt (DOORBELL_RAISE, while it
//                   handles the guest's write) until the guest's handler runs
// Two VMs of one vCPU each on one PE (`--vm ...,pin=0 --vm ...,pin=0`): VM 0 measures
//   vm_switch       half of WFE (a yield: the other VM runs) until it is back: two switches
// while VM 1 yields back. Each vCPU has its own share of the PMU (firmware/README.md, "The
// whole machine"): VM 0's cycle counter stands still while VM 1 runs, as under KVM, so this
// one is timed with the virtual count, CNTVCT_EL0, which goes on, converted to cycles by the
// ratio of the two counters measured over a busy loop just before.
//
// Output: "microbench: NAME CYCLES" lines, then "microbench: done". Needs the hypervisor
// (its doorbell and ARMVIRT_HC_* calls): not for the bare board or QEMU.

#include "guest.h"

#define N           64
#define SGI_PING    1
#define SGI_PONG    2
#define SGI_SELF    3

#define GICD_CTLR       0x0000
#define GICD_IIDR       0x0008
#define GICR_WAKER      0x0014
#define GICR_SGI        0x10000

#define PMCR_E      (1 << 0)
#define PMCR_C      (1 << 2)
#define FILTER_NSH  (1 << 27)

// stamp reg: PMCCNTR_EL0, nothing before it still running, nothing after it started
.macro stamp reg
    isb
    mrs     \reg, pmccntr_el0
    isb
.endm

// vstamp reg: the same with CNTVCT_EL0 (the same instructions: the same overhead in cycles)
.macro vstamp reg
    isb
    mrs     \reg, cntvct_el0
    isb
.endm

// result label: print "microbench: label " and the average of the N samples summed in x22,
// minus the measurement's own cost (x28)
.macro result label
    say     "microbench: \label "
    mov     x0, x22
    bl      report
.endm

    .global _start
    .type   _start, %function
_start:
    ldr     x0, =stack0_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    msr     tpidr_el1, xzr
    ldr     x0, =ARMVIRT_HC_INFO        // which VM, how many vCPUs
    hvc     #0
    mov     x19, x1
    mov     x20, x3
    cmp     x20, #2                     // the partner VM leaves the PE's PMU alone
    b.hs    1f
    cbnz    x19, switch_partner
1:  mov     x0, #(PMCR_E | PMCR_C)      // cycle counter on, at every EL
    msr     pmcr_el0, x0
    mov     x0, #FILTER_NSH
    msr     pmccfiltr_el0, x0
    mov     x0, #(1 << 31)
    msr     pmcntenset_el0, x0
    isb
    cmp     x20, #2
    b.hs    suite

    // ---------------------------------------------------------------- VM switch (VM 0)
    bl      overhead
    isb                                 // cycles per counter tick (x27), over ~2,500 ticks
    mrs     x24, cntvct_el0
    mrs     x25, pmccntr_el0
    mov     x23, #20000
2:  subs    x23, x23, #1
    b.ne    2b
    isb
    mrs     x26, cntvct_el0
    mrs     x27, pmccntr_el0
    sub     x26, x26, x24
    sub     x27, x27, x25
    add     x27, x27, x26, lsr #1       // rounded
    udiv    x27, x27, x26
    mov     x22, #0
    mov     x23, #N
1:  vstamp  x24
    wfe                                 // clears the event register an ERET set
    wfe                                 // traps: the other VM runs, then this one again
    vstamp  x25
    sub     x25, x25, x24
    add     x22, x22, x25
    subs    x23, x23, #1
    b.ne    1b
    mul     x22, x22, x27               // ticks to cycles
    lsr     x22, x22, #1                // two switches per sample
    lsr     x28, x28, #1
    result  "vm_switch"
    b       done

switch_partner:                         // VM 1: yield back, longer than VM 0 needs it
    mov     x23, #(4 * N)
1:  wfe
    wfe
    subs    x23, x23, #1
    b.ne    1b
    b       system_off

    // ---------------------------------------------------------------- two vCPUs
suite:
    ldr     x20, =GICD_BASE
    ldr     x21, =DOORBELL_BASE
    mov     w0, #2                      // the distributor: Group 1
    str     w0, [x20, #GICD_CTLR]
    mov     x0, #DOORBELL_INTID         // the doorbell's SPI: Group 1, to vCPU 0, enabled
    lsr     x1, x0, #5
    and     x2, x0, #31
    mov     x3, #1
    lsl     x3, x3, x2
    add     x4, x20, #0x80              // GICD_IGROUPR<n>
    str     w3, [x4, x1, lsl #2]
    add     x4, x20, #0x100             // GICD_ISENABLER<n>
    str     w3, [x4, x1, lsl #2]
    mov     x0, #0
    bl      gic_cpu_init
    ldr     x0, =PSCI_CPU_ON_64         // vCPU 1: the other end of the IPIs
    mov     x1, #1
    adr     x2, secondary
    mov     x3, #1
    hvc     #0
    ldr     x1, =partner_ready
1:  ldr     x2, [x1]
    cbz     x2, 1b
    msr     daifclr, #2
    bl      overhead

    // --- hypercall
    mov     x22, #0
    mov     x23, #N
1:  ldr     x0, =ARMVIRT_HC_NOP
    stamp   x24
    hvc     #0
    stamp   x25
    sub     x25, x25, x24
    add     x22, x22, x25
    subs    x23, x23, #1
    b.ne    1b
    result  "hypercall"

    // --- interrupt controller trap: GICD_IIDR
    mov     x22, #0
    mov     x23, #N
1:  stamp   x24
    ldr     w1, [x20, #GICD_IIDR]
    stamp   x25
    sub     x25, x25, x24
    add     x22, x22, x25
    subs    x23, x23, #1
    b.ne    1b
    result  "gicd_iidr"

    // --- virtual IPI: ping vCPU 1, its handler pongs; half the round trip
    mov     x22, #0
    mov     x23, #N
    ldr     x19, =pong_count
1:  ldr     x26, [x19]
    stamp   x24
    ldr     x0, =((SGI_PING << 24) | (1 << 1))      // TargetList: vCPU 1
    msr     icc_sgi1r_el1, x0
2:  msr     daifset, #2                 // check, then sleep, without missing the wake-up
    ldr     x0, [x19]
    cmp     x0, x26
    b.ne    3f
    wfi
    msr     daifclr, #2
    b       2b
3:  msr     daifclr, #2
    ldr     x25, =pong_time             // the handler's first reading
    ldr     x25, [x25]
    sub     x25, x25, x24
    add     x22, x22, x25
    subs    x23, x23, #1
    b.ne    1b
    lsr     x22, x22, #1
    lsr     x28, x28, #1                // (the handler's reading has half the cost of a pair)
    result  "virtual_ipi"
    bl      overhead

    // --- virtual IRQ completion: the EOI, timed by the handler
    ldr     x19, =eoi_count
    mov     x23, #N
1:  ldr     x26, [x19]
    ldr     x0, =((SGI_SELF << 24) | 1) // to itself
    msr     icc_sgi1r_el1, x0
2:  msr     daifset, #2
    ldr     x0, [x19]
    cmp     x0, x26
    b.ne    3f
    wfi
    msr     daifclr, #2
    b       2b
3:  msr     daifclr, #2
    subs    x23, x23, #1
    b.ne    1b
    ldr     x22, =eoi_sum
    ldr     x22, [x22]
    result  "virtual_eoi"

    // --- I/O latency out: the doorbell, until the backend sees it
    mov     x22, #0
    mov     x23, #N
    mov     x2, #1
1:  stamp   x24
    str     x2, [x21, #DOORBELL_RING]
    ldr     x25, [x21, #DOORBELL_SEEN_PMC]
    sub     x25, x25, x24
    add     x22, x22, x25
    subs    x23, x23, #1
    b.ne    1b
    lsr     x28, x28, #1                // one reading of ours, one of the backend's
    result  "io_out"
    bl      overhead

    // --- I/O latency in: the backend raises the doorbell's interrupt, until the handler
    mov     x22, #0
    mov     x23, #N
    ldr     x19, =io_in_count
1:  ldr     x26, [x19]
    str     x2, [x21, #DOORBELL_RAISE]
2:  msr     daifset, #2
    ldr     x0, [x19]
    cmp     x0, x26
    b.ne    3f
    wfi
    msr     daifclr, #2
    b       2b
3:  msr     daifclr, #2
    ldr     x24, [x21, #DOORBELL_RAISE] // the backend's reading when it raised it
    ldr     x25, =io_in_time
    ldr     x25, [x25]
    sub     x25, x25, x24
    add     x22, x22, x25
    subs    x23, x23, #1
    b.ne    1b
    lsr     x28, x28, #1
    result  "io_in"

done:
    say     "microbench: done"
    bl      newline
    b       system_off

// overhead: x28 = N times the cost of a pair of readings with nothing between them
overhead:
    mov     x28, #0
    mov     x1, #N
1:  stamp   x24
    stamp   x25
    sub     x25, x25, x24
    add     x28, x28, x25
    subs    x1, x1, #1
    b.ne    1b
    ret

// report(x0 = sum of N samples): print (x0 - x28) / N and a newline
report:
    stp     x29, x30, [sp, #-16]!
    subs    x0, x0, x28
    csel    x0, x0, xzr, hs
    mov     x1, #N
    udiv    x0, x0, x1
    bl      putdec
    bl      newline
    ldp     x29, x30, [sp], #16
    ret

// ---------------------------------------------------------------- vCPU 1
secondary:                              // x0 = 1
    ldr     x1, =stack1_top
    mov     sp, x1
    adr     x1, vectors
    msr     vbar_el1, x1
    msr     tpidr_el1, x0
    bl      gic_cpu_init
    ldr     x1, =partner_ready
    mov     x2, #1
    str     x2, [x1]
    msr     daifclr, #2
1:  wfi                                 // everything happens in the handler
    b       1b

// gic_cpu_init(x0 = vCPU): its redistributor awake, SGIs 1-3 enabled in Group 1, CPU
// interface on
gic_cpu_init:
    ldr     x1, =GICR_BASE
    mov     x2, #GICR_STRIDE
    madd    x1, x0, x2, x1
    str     wzr, [x1, #GICR_WAKER]
1:  ldr     w2, [x1, #GICR_WAKER]
    tbnz    w2, #2, 1b
    add     x1, x1, #GICR_SGI
    mov     w2, #((1 << SGI_PING) | (1 << SGI_PONG) | (1 << SGI_SELF))
    str     w2, [x1, #0x80]             // GICR_IGROUPR0
    str     w2, [x1, #0x100]            // GICR_ISENABLER0
    mov     x2, #0xff
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    ret

// ---------------------------------------------------------------- interrupts
irq_handler:
    stp     x0, x1, [sp, #-48]!
    stp     x2, x3, [sp, #16]
    str     x4, [sp, #32]
    stamp   x3                          // when the handler runs
    mrs     x0, icc_iar1_el1
    cmp     x0, #SGI_PING
    b.ne    1f
    ldr     x1, =((SGI_PONG << 24) | 1) // (vCPU 1) back to vCPU 0
    msr     icc_sgi1r_el1, x1
    b       8f
1:  cmp     x0, #SGI_PONG
    b.ne    2f
    ldr     x1, =pong_time
    str     x3, [x1]
    ldr     x1, =pong_count
    b       7f
2:  cmp     x0, #SGI_SELF
    b.ne    3f
    stamp   x3                          // the EOI alone
    msr     icc_eoir1_el1, x0
    stamp   x4
    sub     x4, x4, x3
    ldr     x1, =eoi_sum
    ldr     x2, [x1]
    add     x2, x2, x4
    str     x2, [x1]
    ldr     x1, =eoi_count
    ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
    b       9f
3:  cmp     x0, #DOORBELL_INTID
    b.ne    8f
    ldr     x1, =io_in_time
    str     x3, [x1]
    ldr     x1, =io_in_count
7:  ldr     x2, [x1]
    add     x2, x2, #1
    str     x2, [x1]
8:  cmp     x0, #1020
    b.hs    9f
    msr     icc_eoir1_el1, x0
9:  ldr     x4, [sp, #32]
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp], #48
    eret

    irq_only_vectors microbench, irq_handler

#include "guest_lib.S"
    .ltorg

    .balign 64
partner_ready: .quad 0
pong_count:    .quad 0
pong_time:     .quad 0
eoi_count:     .quad 0
eoi_sum:       .quad 0
io_in_count:   .quad 0
io_in_time:    .quad 0
    .balign 16
    .space  4096
stack0_top:
    .space  4096
stack1_top:
