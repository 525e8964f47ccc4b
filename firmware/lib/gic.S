// The physical GICv3, as the hypervisor drives it (IHI 0069). The board's distributor is at
// GICD_BASE, PE n's redistributor at GICR_BASE + n * GICR_STRIDE (RD_base, then SGI_base at
// + 64 KiB). Usable at EL2 and from the host part at EL1 (MMU off; HCR_EL2.IMO = 0 there, so
// ICC_* are the physical CPU interface).
//
// The hypervisor's interrupts: all Group 1, priority 0, never taken as exceptions by the
// hypervisor itself (it runs with PSTATE.I set). While a guest runs, HCR_EL2.IMO routes them to
// EL2 and they end the guest's run (an EXC_IRQ exit); an idle PE sleeps in WFI, which they
// end. Either way the run loop then reads them from ICC_IAR1_EL1 (irq_drain):
//   SGI_KICK (SGI 0)        another PE changed something for this PE's vCPUs: look again
//   PPI 25                  the virtual interface's maintenance interrupt (list registers
//                           emptied while more virtual interrupts wait: ICH_HCR_EL2.UIE)
//   PPI 27                  the running vCPU's virtual timer fired: its virtual twin goes into
//                           a list register with HW = 1 (host/vgic.S)
//   PPI 23                  the PMU overflow interrupt of the guest's share of the counters
//                           (the hypervisor enables none for its own): the same, HW = 1
//   HOST_TIMER_PPI          the host part's timer: a blocked vCPU's virtual timer deadline,
//                           or the end of the running vCPU's time slice
//   UART_INTID (SPI 1)      the board's UART received a byte: for the VM that has the
//                           console input (host/mmio.S), enabled only when one has it
// The CPU interface runs with ICC_CTLR_EL1.EOImode = 1: ICC_EOIR1_EL1 drops the priority,
// ICC_DIR_EL1 deactivates. PPIs 27 and 23 are not deactivated by the hypervisor: each stays active until
// the guest's EOI of the virtual interrupt deactivates it through the list register (or
// vgic_flush changes its active state when another vCPU comes in).

#define GICD_CTLR           0x0000
#define GICR_WAKER          0x0014
#define GICR_SGI_BASE       0x10000
#define GICR_IGROUPR0       (GICR_SGI_BASE + 0x0080)
#define GICR_ISENABLER0     (GICR_SGI_BASE + 0x0100)
#define GICR_ISACTIVER0     (GICR_SGI_BASE + 0x0300)
#define GICR_ICACTIVER0     (GICR_SGI_BASE + 0x0380)
#define WAKER_CHILDREN_ASLEEP (1 << 2)
#define SPURIOUS_FIRST      1020        // INTIDs 1020-1023: special (1023: nothing pending)

// gic_dist_init: the distributor, once (PE 0, before the others start): Group 1 enabled
// (GICD_CTLR.DS = ARE = 1 on this board: one Security state, affinity routing).
    .global gic_dist_init
    .type   gic_dist_init, %function
gic_dist_init:
    ldr     x1, =GICD_BASE
    mov     w2, #2                      // EnableGrp1
    str     w2, [x1, #GICD_CTLR]
    ret
    .size   gic_dist_init, . - gic_dist_init

// gic_cpu_init(x0 = PE index): this PE's redistributor and CPU interface, on that PE, at EL2.
// Clobbers x0..x3.
    .global gic_cpu_init
    .type   gic_cpu_init, %function
gic_cpu_init:
    ldr     x1, =GICR_BASE
    mov     x2, #GICR_STRIDE
    madd    x1, x0, x2, x1
    str     wzr, [x1, #GICR_WAKER]      // wake the redistributor
1:  ldr     w2, [x1, #GICR_WAKER]
    tbnz    w2, #2, 1b                  // until ChildrenAsleep = 0
    mov     w2, #-1
    ldr     x3, =GICR_IGROUPR0
    str     w2, [x1, x3]                // every SGI and PPI in Group 1
    ldr     w2, =((1 << SGI_KICK) | (1 << PPI_GIC_MAINTENANCE) | (1 << PPI_VIRT_TIMER) | (1 << HOST_TIMER_PPI) | (1 << PPI_PMU))
    ldr     x3, =GICR_ISENABLER0
    str     w2, [x1, x3]
    mov     x2, #0xFF
    msr     icc_pmr_el1, x2             // every priority passes
    mov     x2, #ICC_CTLR_EOIMODE
    msr     icc_ctlr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    isb
    ret
    .size   gic_cpu_init, . - gic_cpu_init

// gic_kick(x0 = PE index): SGI_KICK to that PE (ICC_SGI1R_EL1: Aff3.Aff2.Aff1 = 0, RS = Aff0
// / 16, TargetList bit Aff0 % 16; the board's PE n has MPIDR Aff0 = n). The DSB makes the
// state the kick announces visible first. Clobbers x1, x2.
    .global gic_kick
    .type   gic_kick, %function
gic_kick:
    and     x2, x0, #15
    mov     x1, #1
    lsl     x2, x1, x2                  // TargetList
    lsr     x1, x0, #4
    lsl     x1, x1, #44                 // RS
    orr     x1, x1, x2
    mov     x2, #(SGI_KICK << 24)
    orr     x1, x1, x2
    dsb     sy
    msr     icc_sgi1r_el1, x1
    isb
    ret
    .size   gic_kick, . - gic_kick

// gic_kick_others: SGI_KICK to every PE but this one (IRM = 1). Clobbers x1, x2.
    .global gic_kick_others
    .type   gic_kick_others, %function
gic_kick_others:
    mov     x1, #(1 << 40)
    mov     x2, #(SGI_KICK << 24)
    orr     x1, x1, x2
    dsb     sy
    msr     icc_sgi1r_el1, x1
    isb
    ret
    .size   gic_kick_others, . - gic_kick_others

// gic_set_vtimer_active(x0 = 0 or 1): this PE's PPI 27 inactive or active (GICR_ICACTIVER0 /
// GICR_ISACTIVER0), recorded in PCPU_VTIMER_ACTIVE. Clobbers x0..x3, x9.
    .global gic_set_vtimer_active
    .type   gic_set_vtimer_active, %function
gic_set_vtimer_active:
    this_pcpu x1
    str     x0, [x1, #PCPU_VTIMER_ACTIVE]
    mov     w2, #(1 << PPI_VIRT_TIMER)
    b       gic_set_ppi_active
    .size   gic_set_vtimer_active, . - gic_set_vtimer_active

// gic_set_pmu_active(x0 = 0 or 1): the same for PPI 23, recorded in PCPU_PMU_ACTIVE.
    .global gic_set_pmu_active
    .type   gic_set_pmu_active, %function
gic_set_pmu_active:
    this_pcpu x1
    str     x0, [x1, #PCPU_PMU_ACTIVE]
    mov     w2, #(1 << PPI_PMU)
    .size   gic_set_pmu_active, . - gic_set_pmu_active
    // fall through
// gic_set_ppi_active(x0 = 0 or 1, x1 = PCPU, w2 = the PPI's bit)
gic_set_ppi_active:
    ldr     x1, [x1, #PCPU_INDEX]
    ldr     x3, =GICR_BASE
    mov     x9, #GICR_STRIDE
    madd    x1, x1, x9, x3
    ldr     x3, =GICR_ICACTIVER0
    ldr     x9, =GICR_ISACTIVER0
    cmp     x0, #0
    csel    x3, x3, x9, eq
    str     w2, [x1, x3]
    ret

// irq_drain() -> x0 = 1 if the host timer fired: acknowledge every pending physical interrupt
// (see the top of this file for what each one means). Clobbers x0..x3, and x0..x17 when the
// UART's receive interrupt (the console input, UART_INTID) is among them.
    .global irq_drain
    .type   irq_drain, %function
irq_drain:
    mov     x3, #0
1:  mrs     x0, icc_iar1_el1
    cmp     x0, #SPURIOUS_FIRST
    b.hs    9f
    cmp     x0, #PPI_VIRT_TIMER
    b.ne    21f
    msr     icc_eoir1_el1, x0           // priority drop only: it stays active (EOImode = 1)
    this_pcpu x1
    mov     x2, #1
    str     x2, [x1, #PCPU_VTIMER_ACTIVE]
    b       1b
21: cmp     x0, #PPI_PMU                // the same for the PMU's overflow interrupt
    b.ne    2f
    msr     icc_eoir1_el1, x0
    this_pcpu x1
    mov     x2, #1
    str     x2, [x1, #PCPU_PMU_ACTIVE]
    b       1b
2:  cmp     x0, #HOST_TIMER_PPI
    b.ne    3f
    host_timer_off                      // its output is a level: drop it before deactivating
    this_pcpu x1
    mov     x2, #-1
    str     x2, [x1, #PCPU_TIMER_AT]
    mov     x3, #1
    b       4f
3:  cmp     x0, #UART_INTID             // the console input (host/mmio.S: vpl011_rx_irq)
    b.ne    5f
    push2   x3, x30
    bl      vpl011_rx_irq
    pop2    x3, x30
    mov     x0, #UART_INTID
    b       4f
5:
#ifdef HV_DIRECT
    cmp     x0, #PPI_GIC_MAINTENANCE    // a level too, while ICH_HCR_EL2.UIE holds with the
    b.ne    4f                          // virtual interface live (direct build): vgic_flush
    mrs     x1, ich_hcr_el2             // sets UIE again if it still needs it
    bic     x1, x1, #ICH_HCR_UIE
    msr     ich_hcr_el2, x1
#endif
4:  msr     icc_eoir1_el1, x0
    msr     icc_dir_el1, x0
    b       1b
9:  mov     x0, x3
    ret
    .size   irq_drain, . - irq_drain
