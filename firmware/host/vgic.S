// The virtual GIC: each VM's emulated GICv3 distributor and redistributors, and the virtual
// interrupts they deliver through the list registers (KVM: arch/arm64/kvm/vgic/).
//
// State. A VM's distributor is a VGICD record (vgic_dists, by VM index): GICD_CTLR and, for
// the SPIs (INTIDs 32-255), group, enable, pending and edge bit arrays, priorities and
// GICD_IROUTER with the vCPU each SPI goes to. Each vCPU's redistributor lives in its VCPU
// record (VGICR_*: the same for INTIDs 0-31, the SGIs and PPIs), next to its virtual CPU
// interface (VGIC_*: ICH_HCR/VMCR/AP0R0/AP1R0/LR<n>_EL2 as the world switch saves them).
// One lock per VM (VGICD_LOCK) covers the distributor and the redistributors; the list
// registers of a vCPU are only touched by the PE it is pinned to.
//
// An interrupt is pending in two places: in the bit arrays (VGICR_PEND / VGICD_PEND: "pending,
// not yet handed to the vCPU"), or in a list register (pending, active, or both), where the
// guest's ICV_IAR1_EL1/ICV_EOIR1_EL1/ICV_DIR_EL1 run their course without the hypervisor.
// Around every run of a vCPU, on its PE:
//   vgic_flush  (before) moves every pending, enabled interrupt of an enabled group that
//               targets the vCPU into a free list register (or merges it with the one there);
//               if none is free, ICH_HCR_EL2.UIE asks for a maintenance interrupt when the
//               list registers drain. It also sets the physical PPI 27's active state (below).
//   vgic_sync   (after) frees the list registers whose interrupt the guest has deactivated.
// Whoever makes an interrupt pending for a vCPU pinned to another PE kicks that PE (SGI_KICK):
// the vCPU leaves the guest (or its PE leaves WFI), and the next flush delivers it.
//
// The virtual timer (PPI 27) is a level-sensitive interrupt whose line is the vCPU's
// CNTV_CTL/CVAL against the VM's virtual count. It goes into a list register with HW = 1 and
// pINTID = 27: the physical PPI 27 is kept active while its virtual twin is in a list register
// (or its line is high), so it cannot fire again, and the guest's EOI of the virtual interrupt
// deactivates the physical one in the same step (IHI 0069 6.3.1) — if the timer is still
// expired then, it fires again at once, exactly the level semantics, with no maintenance
// interrupt and no trap. (The alternative, a software interrupt with the timer masked until an
// EOI maintenance interrupt, costs an exit per timer interrupt.) The physical PPI 27 belongs
// to whichever vCPU is loaded on the PE, so vgic_flush sets its active state for the vCPU
// about to run (KVM: kvm_timer_vcpu_load_gic). A vCPU that is not running (blocked in WFI, or
// waiting for its PE) has its timer compared in software: pick_vcpu (host/run.S) wakes it when
// it has expired and otherwise arms the host part's timer for the earliest deadline.
//
// What is not emulated: GICx_ISACTIVER/ICACTIVER writes (the active state belongs to the
// list registers), GICD_ICPENDR/GICR_ICPENDR0 of an interrupt already in a list register,
// 1-of-N SPI routing (IRM = 1 routes nowhere, as on the board), LPIs, and GICR_WAKER's effect
// on delivery (it reads back what is written). A pending interrupt the guest reads through
// ISPENDR/ISACTIVER of another vCPU that is running at that moment is read from that vCPU's
// last exit.

#define GICD_CTLR_OFF       0x0000
#define GICD_TYPER_OFF      0x0004
#define GICD_IIDR_OFF       0x0008
#define GICD_IGROUPR        0x0080
#define GICD_ISPENDR        0x0200
#define GICD_IPRIORITYR     0x0400
#define GICD_ICFGR          0x0C00
#define GICD_IROUTER        0x6000
#define GICR_TYPER_OFF      0x0008
#define GICR_WAKER_OFF      0x0014
#define SGI_FRAME           0x10000
#define ID_REGS             0xFFD0      // PIDR4-7, PIDR0-3, CIDR0-3: 12 words
#define IROUTER_MASK        0xFF80FFFFFF // Aff3, IRM, Aff2.Aff1.Aff0
#define IROUTER_IRM         (1 << 31)

// grp_mask dst, ctlr, grp, tmp: the interrupts of a bit-array word whose group is enabled in
// GICD_CTLR (EnableGrp0 = bit 0, EnableGrp1 = bit 1); grp = the word's GICx_IGROUPR bits.
.macro grp_mask dst, ctlr, grp, tmp
    mvn     \tmp, \grp
    tst     \ctlr, #1
    csel    \tmp, \tmp, xzr, ne
    tst     \ctlr, #2
    csel    \dst, \grp, xzr, ne
    orr     \dst, \dst, \tmp
.endm

// lowest dst, word, tmp: dst = the number of the lowest set bit of a non-zero word, which
// loses that bit; tmp = the bit.
.macro lowest dst, word, tmp
    rbit    \dst, \word
    clz     \dst, \dst
    mov     \tmp, #1
    lsl     \tmp, \tmp, \dst
    bic     \word, \word, \tmp
.endm

// vm_vgicd(x0 = VM) -> x0 = its VGICD record. Clobbers x1, x9.
    .global vm_vgicd
    .type   vm_vgicd, %function
vm_vgicd:
    phase   handler
    ldr     x1, [x0, #VM_INDEX]
    mov     x9, #VGICD_SIZE
    ldr     x0, =vgic_dists
    madd    x0, x1, x9, x0
    ret
    .size   vm_vgicd, . - vm_vgicd

// vgic_vcpu_init(x0 = vCPU): its redistributor at reset (IHI 0069: Group 0, disabled, priority
// 0, PPIs level-sensitive, asleep), then its CPU interface and timer (vgic_reset_cpuif).
    .global vgic_vcpu_init
    .type   vgic_vcpu_init, %function
vgic_vcpu_init:
    mov     x1, #VGICR_WAKER_RESET
    str     x1, [x0, #VCPU_VGICR_WAKER]
    mov     x1, #0xFFFF                 // SGIs: edge-triggered
    str     x1, [x0, #VCPU_VGICR_EDGE]
    str     xzr, [x0, #VCPU_VGICR_GROUP]
    str     xzr, [x0, #VCPU_VGICR_ENABLE]
    str     xzr, [x0, #VCPU_VGICR_PEND]
    add     x1, x0, #VCPU_VGICR_PRIO
    stp     xzr, xzr, [x1]
    stp     xzr, xzr, [x1, #16]
    .size   vgic_vcpu_init, . - vgic_vcpu_init
    // fall through

// vgic_reset_cpuif(x0 = vCPU): a PE's reset as PSCI CPU_ON gives it: the virtual CPU interface
// empty (no list register in use, nothing active, every group disabled) and the virtual timer
// off. The redistributor keeps its configuration and pending interrupts, as a GIC's does while
// its PE is off. Keeps x0; clobbers x1, x2.
    .global vgic_reset_cpuif
    .type   vgic_reset_cpuif, %function
vgic_reset_cpuif:
    mov     x1, #ICH_HCR_EN
    str     x1, [x0, #VCPU_VGIC_HCR]
    str     xzr, [x0, #VCPU_VGIC_VMCR]
    str     xzr, [x0, #VCPU_VGIC_AP0R]
    str     xzr, [x0, #VCPU_VGIC_AP1R]
    str     xzr, [x0, #VCPU_VGIC_USED]
    add     x1, x0, #VCPU_VGIC_LR
    mov     x2, #VGIC_MAX_LRS
1:  str     xzr, [x1], #8
    subs    x2, x2, #1
    b.ne    1b
    str     xzr, [x0, #VCPU_CNTV_CTL]
    str     xzr, [x0, #VCPU_CNTV_CVAL]
    add     x1, x0, #VCPU_CNTP_CTL      // the physical timer off, the PMU share and the debug
    mov     x2, #((VCPU_DBG_WCR + 16 * 8 - VCPU_CNTP_CTL) / 8)   // registers at their reset
2:  str     xzr, [x1], #8
    subs    x2, x2, #1
    b.ne    2b
    mov     x1, #1                      // the OS lock is locked at reset (OSLSR_EL1.OSLK)
    str     x1, [x0, #VCPU_OSLK]
    ret

// ---------------------------------------------------------------------------------------------
// The list registers of the vCPU that is about to run or has just run, on its own PE: in its
// VCPU record in the split build (the world switch moves them), in the PE in the direct build
// (they stay loaded: hyp/vgic-v3-sr.S).

// vgic_lr_get(x0 = vCPU, x1 = n) -> x0 = ICH_LR<n>_EL2. Clobbers x1, x2.
vgic_lr_get:
#ifdef HV_SPLIT
    add     x0, x0, #VCPU_VGIC_LR
    ldr     x0, [x0, x1, lsl #3]
    ret
#else
    mov     x0, x1
    b       __vgic_read_lr
#endif

// vgic_lr_set(x0 = vCPU, x1 = n, x2 = value). Clobbers x0..x2.
vgic_lr_set:
#ifdef HV_SPLIT
    add     x0, x0, #VCPU_VGIC_LR
    str     x2, [x0, x1, lsl #3]
    ret
#else
    mov     x0, x1
    mov     x1, x2
    b       __vgic_write_lr
#endif

// vgic_hcr_set(x0 = vCPU, x1 = ICH_HCR_EL2 value).
vgic_hcr_set:
#ifdef HV_SPLIT
    str     x1, [x0, #VCPU_VGIC_HCR]
#else
    msr     ich_hcr_el2, x1
#endif
    ret

// vtimer_level(x0 = vCPU about to run) -> x0 = 1 if its virtual timer's output is asserted
// (enabled, not masked, CNTVCT >= CVAL). Direct build: the timer is in the PE (ISTATUS).
vtimer_level:
#ifdef HV_DIRECT
    mrs     x0, cntv_ctl_el0
    and     x0, x0, #7
    cmp     x0, #5                      // ISTATUS | ENABLE, not IMASK
    cset    x0, eq
    ret
#endif
    .size   vgic_reset_cpuif, . - vgic_reset_cpuif
    // fall through (split: the vCPU's saved timer)

// vtimer_level_mem(x0 = vCPU not in the PE) -> x0 = the same from its VCPU record: the VM's
// virtual count is CNTPCT_EL0 - its CNTVOFF. Clobbers x1..x3.
    .global vtimer_level_mem
    .type   vtimer_level_mem, %function
vtimer_level_mem:
    ldr     x1, [x0, #VCPU_CNTV_CTL]
    and     x1, x1, #3
    cmp     x1, #1
    b.ne    1f
    ldr     x2, [x0, #VCPU_VM]
    ldr     x2, [x2, #VM_CNTVOFF]
    mrs     x3, cntpct_el0
    sub     x3, x3, x2
    ldr     x1, [x0, #VCPU_CNTV_CVAL]
    cmp     x3, x1
    cset    x0, hs
    ret
1:  mov     x0, #0
    ret
    .size   vtimer_level_mem, . - vtimer_level_mem

// vtimer_deadline(x0 = vCPU not in the PE) -> x0 = the physical count at which its virtual
// timer will wake it (CVAL + CNTVOFF), or -1 if it will not (off, masked, or PPI 27 disabled
// in its redistributor). Clobbers x1, x2.
    .global vtimer_deadline
    .type   vtimer_deadline, %function
vtimer_deadline:
    ldr     x1, [x0, #VCPU_CNTV_CTL]
    and     x1, x1, #3
    cmp     x1, #1
    b.ne    1f
    ldr     x1, [x0, #VCPU_VGICR_ENABLE]
    tbz     x1, #PPI_VIRT_TIMER, 1f
    ldr     x1, [x0, #VCPU_CNTV_CVAL]
    ldr     x2, [x0, #VCPU_VM]
    ldr     x2, [x2, #VM_CNTVOFF]
    add     x0, x1, x2
    ret
1:  mov     x0, #-1
    ret

// vgic_find_lr(x0 = vCPU, x1 = INTID) -> x0 = the list register holding it, or -1.
vgic_find_lr:
    enter
    mov     x19, x0
    mov     x20, x1
    ldr     x21, [x19, #VCPU_VGIC_USED]
1:  cbz     x21, 2f
    lowest  x22, x21, x1
    mov     x0, x19
    mov     x1, x22
    bl      vgic_lr_get
    and     x0, x0, #0xFFFFFFFF
    cmp     x0, x20
    b.ne    1b
    mov     x0, x22
    leave
2:  mov     x0, #-1
    leave

// vgic_queue(x0 = vCPU, x1 = INTID, x2 = priority, x3 = group, x4 = 1 for the timer's HW
// mapping) -> x0 = 1 if the interrupt is now pending in a list register, 0 if none is free.
// An interrupt already in a list register merges with it: pending stays pending, active
// becomes active and pending (not for HW = 1: the physical one is still active).
vgic_queue:
    enter_big
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    mov     x22, x3
    mov     x23, x4
    ldr     x24, [x19, #VCPU_VGIC_USED]
    mov     x25, x24
1:  cbz     x25, 3f                     // already in one?
    lowest  x26, x25, x1
    mov     x0, x19
    mov     x1, x26
    bl      vgic_lr_get
    and     x1, x0, #0xFFFFFFFF
    cmp     x1, x20
    b.ne    1b
    lsr     x1, x0, #LR_STATE_SHIFT
    cmp     x1, #2                      // active only
    b.ne    2f
    tbnz    x0, #61, 2f                 // LR_HW
    orr     x2, x0, #LR_PENDING
    mov     x0, x19
    mov     x1, x26
    bl      vgic_lr_set
2:  mov     x0, #1
    leave_big
3:  ldr     x1, =vgic_nr_lrs            // a free one
    ldr     x1, [x1]
    mov     x2, #1
    lsl     x2, x2, x1
    sub     x2, x2, #1
    bics    x2, x2, x24
    b.eq    9f
    rbit    x26, x2
    clz     x26, x26
    mov     x2, #LR_PENDING
    orr     x2, x2, x20                 // vINTID
    and     x21, x21, #VGIC_PRIO_MASK   // the priority bits the virtual interface has (the
    lsl     x3, x21, #LR_PRIO_SHIFT     // distributor keeps all eight, as the board's does)
    orr     x2, x2, x3
    lsl     x3, x22, #60                // Group
    orr     x2, x2, x3
    cbz     x23, 4f
    orr     x2, x2, #LR_HW
    lsl     x3, x20, #LR_PINTID_SHIFT   // pINTID: the same PPI, physically
    orr     x2, x2, x3
4:  mov     x0, x19
    mov     x1, x26
    bl      vgic_lr_set
    mov     x1, #1
    lsl     x1, x1, x26
    orr     x24, x24, x1
    str     x24, [x19, #VCPU_VGIC_USED]
    ldr     x1, [x19, #VCPU_STAT + STAT_VIRQ * 8]
    add     x1, x1, #1
    str     x1, [x19, #VCPU_STAT + STAT_VIRQ * 8]
    mov     x0, #1
    leave_big
9:  mov     x0, #0
    leave_big
    .size   vtimer_deadline, . - vtimer_deadline

// vgic_flush(x0 = vCPU): before it runs, on its PE (KVM: kvm_vgic_flush_hwstate). In INTID
// order: its SGIs and PPIs (the timer's line included), then the SPIs routed to it. A first
// look without the VM's lock finds out whether there is anything to do at all (the common
// case of an exit without interrupts); a PE that makes something pending for this vCPU after
// that look kicks this PE, so the vCPU comes straight out again and the next flush sees it.
    .global vgic_flush
    .type   vgic_flush, %function
vgic_flush:
    phase   host
    enter_big
    mov     x19, x0
    ldr     x0, [x19, #VCPU_VM]
    bl      vm_vgicd
    mov     x20, x0                     // x20 = the VM's distributor
    add     x21, x20, #VGICD_LOCK
    mov     x0, x19
    bl      vtimer_level
    lsl     x22, x0, #PPI_VIRT_TIMER    // x22 = the level PPIs' lines: the virtual timer's,
    mov     x0, x19
    bl      ptimer_level                // the emulated physical timer's,
    orr     x22, x22, x0, lsl #PPI_PHYS_TIMER
    mov     x0, x19
    bl      pmu_level                   // the PMU overflow's (its share is in the PE now)
    orr     x22, x22, x0, lsl #PPI_PMU
    mov     x23, #0                     // x23 = 1 when an interrupt found no list register
    bl      private_candidates          // x25 = pending, enabled SGIs/PPIs of enabled groups
    ldr     x2, [x20, #VGICD_PEND_WORDS] // and SPIs pending, whoever their target
    orr     x2, x2, x25
    cbz     x2, 10f                     // nothing to deliver: no lock needed
    spin_lock x21, x1, w2
    bl      private_candidates          // again, under the lock
1:  cbz     x25, 5f                     // the SGIs and PPIs
    lowest  x26, x25, x27               // x26 = INTID, x27 = its bit
    mov     x0, x19
    mov     x1, x26
    add     x2, x19, #VCPU_VGICR_PRIO
    ldrb    w2, [x2, x26]
    ldr     x3, [x19, #VCPU_VGICR_GROUP]
    lsr     x3, x3, x26
    and     x3, x3, #1
    cmp     x26, #PPI_VIRT_TIMER        // HW = 1 for the virtual timer and the PMU: their
    ccmp    x26, #PPI_PMU, #4, ne       // physical PPIs stay active meanwhile
    cset    x4, eq
    bl      vgic_queue
    cbz     x0, 2f
    ldr     x1, [x19, #VCPU_VGICR_PEND]
    bic     x1, x1, x27
    str     x1, [x19, #VCPU_VGICR_PEND]
    b       1b
2:  mov     x23, #1
    b       1b
5:  mov     x28, #1                     // the SPIs, word by word
6:  cmp     x28, #VGIC_NWORDS
    b.hs    69f
    add     x1, x20, #VGICD_PEND
    ldr     x25, [x1, x28, lsl #3]
    cbnz    x25, 61f
    ldr     x1, [x20, #VGICD_PEND_WORDS]  // (none left in this word)
    mov     x2, #1
    lsl     x2, x2, x28
    bic     x1, x1, x2
    str     x1, [x20, #VGICD_PEND_WORDS]
    b       9f
61:
    add     x1, x20, #VGICD_ENABLE
    ldr     x1, [x1, x28, lsl #3]
    and     x25, x25, x1
    add     x1, x20, #VGICD_GROUP
    ldr     x1, [x1, x28, lsl #3]
    grp_mask x2, x24, x1, x3
    and     x25, x25, x2
7:  cbz     x25, 9f
    lowest  x26, x25, x27
    add     x26, x26, x28, lsl #5       // INTID
    add     x1, x20, #VGICD_TARGET
    ldrb    w1, [x1, x26]
    ldr     x2, [x19, #VCPU_INDEX]
    cmp     x1, x2
    b.ne    7b                          // another vCPU's
    mov     x0, x19
    mov     x1, x26
    add     x2, x20, #VGICD_PRIO
    ldrb    w2, [x2, x26]
    add     x3, x20, #VGICD_GROUP
    ldr     x3, [x3, x28, lsl #3]
    and     x4, x26, #31
    lsr     x3, x3, x4
    and     x3, x3, #1
    mov     x4, #0
    bl      vgic_queue
    cbz     x0, 8f
    add     x1, x20, #VGICD_PEND
    ldr     x2, [x1, x28, lsl #3]
    bic     x2, x2, x27
    str     x2, [x1, x28, lsl #3]
    b       7b
8:  mov     x23, #1
    b       7b
9:  add     x28, x28, #1
    b       6b
69: spin_unlock x21
10: tbnz    x22, #PPI_PHYS_TIMER, 15f   // the emulated physical timer's line is low: a list
    ldr     x1, [x19, #VCPU_VGIC_USED]  // register must not keep it pending (a level whose
    cbz     x1, 15f                     // handler moved CVAL, trapped, before its EOI; KVM
    mov     x0, x19                     // resamples the line the same way)
    mov     x1, #PPI_PHYS_TIMER
    bl      vgic_find_lr
    cmn     x0, #1
    b.eq    15f
    mov     x26, x0
    mov     x0, x19
    mov     x1, x26
    bl      vgic_lr_get
    tbz     x0, #62, 15f                // LR_PENDING
    bic     x2, x0, #LR_PENDING
    lsr     x3, x2, #LR_STATE_SHIFT
    cbnz    x3, 16f                     // still active: the guest's EOI ends it
    mov     x2, #0                      // pending only: gone, the list register free
    ldr     x3, [x19, #VCPU_VGIC_USED]
    mov     x4, #1
    lsl     x4, x4, x26
    bic     x3, x3, x4
    str     x3, [x19, #VCPU_VGIC_USED]
16: mov     x0, x19
    mov     x1, x26
    bl      vgic_lr_set
15: mov     x1, #ICH_HCR_EN             // the virtual interface on; a maintenance interrupt
    cbz     x23, 11f                    // when the list registers drain if some wait
    orr     x1, x1, #ICH_HCR_UIE
11: mov     x0, x19
    bl      vgic_hcr_set
    mov     x1, #PPI_VIRT_TIMER         // the physical PPIs 27 and 23: active while their
    bl      hw_ppi_active               // line is high, or their virtual twin is in a list
    this_pcpu x1                        // register
    ldr     x1, [x1, #PCPU_VTIMER_ACTIVE]
    cmp     x0, x1
    b.eq    12f
    bl      gic_set_vtimer_active
12: mov     x1, #PPI_PMU
    bl      hw_ppi_active
    this_pcpu x1
    ldr     x1, [x1, #PCPU_PMU_ACTIVE]
    cmp     x0, x1
    b.eq    14f
    bl      gic_set_pmu_active
14: leave_big

// hw_ppi_active (vgic_flush's, x19 = vCPU, x22 = lines, x1 = INTID) -> x0 = 1 if the physical
// PPI x1 must be active for this vCPU: its line is high or its virtual twin is in a list
// register. Clobbers x1..x9 (vgic_find_lr keeps x19..x22).
hw_ppi_active:
    push2   x29, x30
    lsr     x0, x22, x1
    and     x0, x0, #1
    cbnz    x0, 1f
    ldr     x2, [x19, #VCPU_VGIC_USED]
    cbz     x2, 1f
    mov     x0, x19
    bl      vgic_find_lr
    cmn     x0, #1
    cset    x0, ne
1:  pop2    x29, x30
    ret

// private_candidates (vgic_flush's, x19 = vCPU, x20 = VGICD, x22 = the level PPIs' lines) -> x25 =
// its pending, enabled SGIs and PPIs whose group is enabled; x24 = GICD_CTLR. Clobbers x1..x3.
private_candidates:
    ldr     x24, [x20, #VGICD_CTLR]
    ldr     x25, [x19, #VCPU_VGICR_PEND]
    orr     x25, x25, x22
    ldr     x1, [x19, #VCPU_VGICR_ENABLE]
    and     x25, x25, x1
    ldr     x1, [x19, #VCPU_VGICR_GROUP]
    grp_mask x2, x24, x1, x3
    and     x25, x25, x2
    ret
    .size   vgic_flush, . - vgic_flush

// vgic_sync(x0 = vCPU): after it ran, on its PE (KVM: kvm_vgic_sync_hwstate): the list
// registers whose interrupt the guest has deactivated (State = Invalid) are free again. A
// free HW one means the guest's EOI deactivated the physical PPI 27 as well.
    .global vgic_sync
    .type   vgic_sync, %function
vgic_sync:
    enter
    mov     x19, x0
    ldr     x20, [x19, #VCPU_VGIC_USED]
    mov     x21, x20
1:  cbz     x21, 3f
    lowest  x22, x21, x1
    mov     x0, x19
    mov     x1, x22
    bl      vgic_lr_get
    lsr     x1, x0, #LR_STATE_SHIFT
    cbnz    x1, 1b
    mov     x1, #1
    lsl     x1, x1, x22
    bic     x20, x20, x1
    tbz     x0, #61, 1b                 // LR_HW: the guest's EOI deactivated pINTID
    this_pcpu x1
    ubfx    x2, x0, #LR_PINTID_SHIFT, #10
    cmp     x2, #PPI_PMU
    b.eq    2f
    str     xzr, [x1, #PCPU_VTIMER_ACTIVE]
    b       1b
2:  str     xzr, [x1, #PCPU_PMU_ACTIVE]
    b       1b
3:  str     x20, [x19, #VCPU_VGIC_USED]
    leave
    .size   vgic_sync, . - vgic_sync

// vgic_vcpu_pending(x0 = vCPU, its state in memory) -> x0 = 1 if an interrupt waits for it
// (pending, enabled, its group enabled; or pending in a list register): what ends a WFI
// (KVM: kvm_vgic_vcpu_pending_irq). The priority mask is not considered: WFI may end early.
    .global vgic_vcpu_pending
    .type   vgic_vcpu_pending, %function
vgic_vcpu_pending:
    enter
    mov     x19, x0
    ldr     x0, [x19, #VCPU_VM]
    bl      vm_vgicd
    mov     x20, x0
    ldr     x21, [x20, #VGICD_CTLR]
    mov     x0, x19
    bl      vtimer_level_mem
    lsl     x22, x0, #PPI_VIRT_TIMER
    mov     x0, x19
    bl      ptimer_level
    orr     x22, x22, x0, lsl #PPI_PHYS_TIMER
    mov     x0, x19
    bl      pmu_level
    ldr     x1, [x19, #VCPU_VGICR_PEND]
    orr     x1, x1, x0, lsl #PPI_PMU
    orr     x1, x1, x22
    ldr     x2, [x19, #VCPU_VGICR_ENABLE]
    and     x1, x1, x2
    ldr     x2, [x19, #VCPU_VGICR_GROUP]
    grp_mask x3, x21, x2, x4
    tst     x1, x3
    b.ne    8f
    ldr     x1, [x19, #VCPU_VGIC_USED]  // a list register with a pending interrupt
    add     x2, x19, #VCPU_VGIC_LR
1:  cbz     x1, 4f
    lowest  x3, x1, x4
    ldr     x4, [x2, x3, lsl #3]
    tbnz    x4, #62, 8f                 // LR_PENDING
    b       1b
4:  ldr     x5, [x19, #VCPU_INDEX]      // an SPI routed to it
    ldr     x6, [x20, #VGICD_PEND_WORDS]
    cbz     x6, 9f
    mov     x6, #1
5:  cmp     x6, #VGIC_NWORDS
    b.hs    9f
    add     x1, x20, #VGICD_PEND
    ldr     x7, [x1, x6, lsl #3]
    add     x1, x20, #VGICD_ENABLE
    ldr     x1, [x1, x6, lsl #3]
    and     x7, x7, x1
    add     x1, x20, #VGICD_GROUP
    ldr     x1, [x1, x6, lsl #3]
    grp_mask x2, x21, x1, x3
    and     x7, x7, x2
6:  cbz     x7, 7f
    lowest  x8, x7, x1
    add     x8, x8, x6, lsl #5
    add     x1, x20, #VGICD_TARGET
    ldrb    w1, [x1, x8]
    cmp     x1, x5
    b.eq    8f
    b       6b
7:  add     x6, x6, #1
    b       5b
8:  mov     x0, #1
    leave
9:  mov     x0, #0
    leave
    .size   vgic_vcpu_pending, . - vgic_vcpu_pending

// vgic_kick_vcpu(x0 = vCPU): make its PE look at it again (SGI_KICK), unless that is this PE.
// Clobbers x0..x2.
    .global vgic_kick_vcpu
    .type   vgic_kick_vcpu, %function
vgic_kick_vcpu:
    phase   handler
    ldr     x0, [x0, #VCPU_PCPU]
    this_pcpu x1
    ldr     x1, [x1, #PCPU_INDEX]
    cmp     x0, x1
    b.ne    gic_kick
    ret

// vgic_kick_vm(x0 = VM): the same for every vCPU of the VM.
vgic_kick_vm:
    enter
    ldr     x19, [x0, #VM_VCPUS]
    ldr     x20, [x0, #VM_NR_VCPUS]
1:  cbz     x20, 2f
    mov     x0, x19
    bl      vgic_kick_vcpu
    add     x19, x19, #VCPU_SIZE
    sub     x20, x20, #1
    b       1b
2:  leave
    .size   vgic_kick_vcpu, . - vgic_kick_vcpu

// vgic_send_sgi(x0 = vCPU, x1 = the value written to ICC_SGI1R_EL1 (or SGI0R/ASGI1R), x2 = the
// group it generates): virtual SGIs to the vCPUs of the same VM it names (IHI 0069 12.2.21):
// INTID [27:24]; IRM [40] = 1: every vCPU but the sender; else those whose affinity is
// Aff3.Aff2.Aff1 [55:48, 39:32, 23:16] (0 for every vCPU here) with Aff0 = RS [47:44] * 16 + n
// for each bit n of TargetList [15:0]. A target whose redistributor puts that SGI in the other
// group does not take it, as on the board. Targets on other PEs are kicked.
    .global vgic_send_sgi
    .type   vgic_send_sgi, %function
vgic_send_sgi:
    enter_big
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    ldr     x22, [x19, #VCPU_VM]
    mov     x0, x22
    bl      vm_vgicd
    add     x23, x0, #VGICD_LOCK
    ubfx    x24, x20, #24, #4           // INTID
    mov     x25, #0                     // the targets (bit j: vCPU j)
    ldr     x26, [x22, #VM_VCPUS]
    mov     x27, #0                     // j
    spin_lock x23, x1, w2
1:  ldr     x1, [x22, #VM_NR_VCPUS]
    cmp     x27, x1
    b.hs    5f
    mov     x1, #VCPU_SIZE
    madd    x0, x27, x1, x26            // x0 = vCPU j
    tbz     x20, #40, 2f
    cmp     x0, x19                     // IRM: all but self
    b.eq    4f
    b       3f
2:  mov     x1, #0xFF0000               // Aff1
    orr     x1, x1, #0xFF00000000       // Aff2
    orr     x1, x1, #0xFF000000000000   // Aff3
    tst     x20, x1
    b.ne    4f
    ubfx    x1, x20, #44, #4            // RS
    cmp     x1, x27, lsr #4
    b.ne    4f
    and     x1, x27, #15
    lsr     x2, x20, x1
    tbz     x2, #0, 4f                  // not in TargetList
3:  ldr     x1, [x0, #VCPU_VGICR_GROUP]
    lsr     x1, x1, x24
    and     x1, x1, #1
    cmp     x1, x21
    b.ne    4f
    ldr     x1, [x0, #VCPU_VGICR_PEND]
    mov     x2, #1
    lsl     x2, x2, x24
    orr     x1, x1, x2
    str     x1, [x0, #VCPU_VGICR_PEND]
    mov     x2, #1
    lsl     x2, x2, x27
    orr     x25, x25, x2
4:  add     x27, x27, #1
    b       1b
5:  spin_unlock x23
6:  cbz     x25, 7f                     // kick the targets' PEs
    lowest  x27, x25, x1
    mov     x1, #VCPU_SIZE
    madd    x0, x27, x1, x26
    bl      vgic_kick_vcpu
    b       6b
7:  ldr     x1, [x19, #VCPU_STAT + STAT_VSGI * 8]
    add     x1, x1, #1
    str     x1, [x19, #VCPU_STAT + STAT_VSGI * 8]
    leave_big
    .size   vgic_send_sgi, . - vgic_send_sgi

// vgic_raise_spi(x0 = VM, x1 = INTID of an SPI): an edge on that SPI of the VM's GIC (an
// emulated device's interrupt): pending until its target vCPU takes it; that vCPU's PE kicked.
    .global vgic_raise_spi
    .type   vgic_raise_spi, %function
vgic_raise_spi:
    enter
    mov     x19, x0
    mov     x20, x1
    bl      vm_vgicd
    mov     x21, x0
    add     x22, x21, #VGICD_LOCK
    spin_lock x22, x1, w2
    lsr     x1, x20, #5
    add     x2, x21, #VGICD_PEND
    ldr     x3, [x2, x1, lsl #3]
    and     x4, x20, #31
    mov     x5, #1
    lsl     x5, x5, x4
    orr     x3, x3, x5
    str     x3, [x2, x1, lsl #3]
    ldr     x3, [x21, #VGICD_PEND_WORDS]
    mov     x5, #1
    lsl     x5, x5, x1
    orr     x3, x3, x5
    str     x3, [x21, #VGICD_PEND_WORDS]
    add     x2, x21, #VGICD_TARGET
    ldrb    w20, [x2, x20]              // its target vCPU
    spin_unlock x22
    cmp     x20, #VGIC_NO_TARGET
    b.eq    9f
    ldr     x0, [x19, #VM_VCPUS]
    mov     x1, #VCPU_SIZE
    madd    x0, x20, x1, x0
    bl      vgic_kick_vcpu
9:  leave

// vgic_lr_bits(x0 = VM, x1 = one vCPU or 0 for all of the VM's, x2 = first INTID of a 32-bit
// word, x3 = 62 (pending) or 63 (active)) -> x0 = the word's INTIDs that some list register in
// memory holds in that state. Clobbers x0..x13.
vgic_lr_bits:
    mov     x9, #0
    mov     x10, x1
    mov     x11, #1
    cbnz    x1, 1f
    ldr     x10, [x0, #VM_VCPUS]
    ldr     x11, [x0, #VM_NR_VCPUS]
1:  cbz     x11, 9f
    ldr     x12, [x10, #VCPU_VGIC_USED]
    add     x13, x10, #VCPU_VGIC_LR
2:  cbz     x12, 3f
    lowest  x4, x12, x5
    ldr     x5, [x13, x4, lsl #3]
    lsr     x6, x5, x3
    tbz     x6, #0, 2b
    and     x5, x5, #0xFFFFFFFF
    sub     x5, x5, x2
    cmp     x5, #32
    b.hs    2b
    mov     x6, #1
    lsl     x6, x6, x5
    orr     x9, x9, x6
    b       2b
3:  add     x10, x10, #VCPU_SIZE
    sub     x11, x11, #1
    b       1b
9:  mov     x0, x9
    ret

// edge_to_icfgr(x0 = 16 edge bits) -> x0 = a GICx_ICFGR word (Int_config[1] = 1: edge).
edge_to_icfgr:
    mov     x1, #0
    mov     x2, #0
1:  lsr     x3, x0, x2
    tbz     x3, #0, 2f
    mov     x3, #2
    lsl     x4, x2, #1
    lsl     x3, x3, x4
    orr     x1, x1, x3
2:  add     x2, x2, #1
    cmp     x2, #16
    b.lo    1b
    mov     x0, x1
    ret

// icfgr_to_edge(x0 = a GICx_ICFGR word) -> x0 = its 16 edge bits.
icfgr_to_edge:
    mov     x1, #0
    mov     x2, #0
1:  lsl     x4, x2, #1
    add     x4, x4, #1
    lsr     x3, x0, x4
    and     x3, x3, #1
    lsl     x3, x3, x2
    orr     x1, x1, x3
    add     x2, x2, #1
    cmp     x2, #16
    b.lo    1b
    mov     x0, x1
    ret

// ---------------------------------------------------------------------------------------------
// The emulated registers (host/mmio.S calls the *_access handlers for a trapped access with
// x0 = VM, x1 = offset, x2 = SAS, x3 = value, x4 = the vCPU, x5 = is_write).

// mmio_sized(x0 = context, x1 = offset, x2 = SAS, x3 = value, x5 = is_write, x6 = read32,
// x7 = write32, x8 = write8 or 0) -> x0: an access of any size in terms of 32-bit registers,
// as the GIC's are (IHI 0069 12.1.3): a 64-bit access is two (GICD_IROUTER<n>, GICR_TYPER), a
// byte or halfword read returns its lanes of the word, a byte write reaches only the
// byte-accessible priority registers (write8), a halfword write nothing.
mmio_sized:
    enter_big
    mov     x19, x0
    bic     x20, x1, #3                 // the word
    and     x26, x1, #3
    mov     x21, x2
    mov     x22, x3
    mov     x23, x6
    mov     x24, x7
    mov     x25, x8
    cbnz    x5, 10f
    mov     x0, x19                     // reads
    mov     x1, x20
    blr     x23
    cmp     x21, #3
    b.ne    1f
    mov     x27, x0
    mov     x0, x19
    add     x1, x20, #4
    blr     x23
    orr     x0, x27, x0, lsl #32
    leave_big
1:  cmp     x21, #2
    b.eq    2f
    lsl     x1, x26, #3
    lsr     x0, x0, x1
    mov     x2, #8
    lsl     x2, x2, x21
    mov     x3, #1
    lsl     x3, x3, x2
    sub     x3, x3, #1
    and     x0, x0, x3
2:  leave_big
10: cmp     x21, #2                     // writes
    b.lo    12f
    mov     x0, x19
    mov     x1, x20
    mov     w2, w22
    blr     x24
    cmp     x21, #3
    b.ne    19f
    mov     x0, x19
    add     x1, x20, #4
    lsr     x2, x22, #32
    blr     x24
    b       19f
12: cbnz    x21, 19f
    cbz     x25, 19f
    mov     x0, x19
    add     x1, x20, x26
    and     x2, x22, #0xFF
    blr     x25
19: mov     x0, #0
    leave_big
    .size   vgic_raise_spi, . - vgic_raise_spi

// vgicd_access: the distributor (GICD_BASE). Handler contract: host/mmio.S.
    .global vgicd_access
    .type   vgicd_access, %function
vgicd_access:
    enter_big
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    mov     x22, x3
    mov     x23, x4
    mov     x24, x5
    cbnz    x24, 1f
    sub     x1, x20, #GICD_ISPENDR      // a read of pending or active state: the list
    cmp     x1, #(GICD_IPRIORITYR - GICD_ISPENDR)   // registers of this vCPU in memory first
    b.hs    1f
    mov     x0, x23
    bl      vcpu_put
1:  mov     x0, x19
    bl      vm_vgicd
    mov     x25, x0
    add     x26, x25, #VGICD_LOCK
    spin_lock x26, x1, w2
    mov     x0, x25
    mov     x1, x20
    mov     x2, x21
    mov     x3, x22
    mov     x5, x24
    adr     x6, vgicd_read32
    adr     x7, vgicd_write32
    adr     x8, vgicd_write8
    bl      mmio_sized
    mov     x27, x0
    spin_unlock x26
    cbz     x24, 2f
    mov     x0, x19                     // a write may have made something deliverable
    bl      vgic_kick_vm
2:  mov     x0, x27
    leave_big

// vgicd_read32(x0 = VGICD, x1 = word offset) -> x0
vgicd_read32:
    enter
    mov     x19, x0
    mov     x20, x1
    cmp     x20, #GICD_CTLR_OFF
    b.ne    1f
    ldr     x0, [x19, #VGICD_CTLR]
    mov     x1, #VGICD_CTLR_ARE_DS
    orr     x0, x0, x1
    leave
1:  cmp     x20, #GICD_TYPER_OFF
    b.ne    1f
    ldr     x0, =VGICD_TYPER
    leave
1:  cmp     x20, #GICD_IIDR_OFF
    b.ne    1f
    mov     x0, #VGIC_IIDR
    leave
1:  sub     x1, x20, #GICD_IGROUPR      // the bit arrays: IGROUPR, ISENABLER, ICENABLER,
    cmp     x1, #(7 * 0x80)             // ISPENDR, ICPENDR, ISACTIVER, ICACTIVER; word n
    b.hs    2f
    lsr     x21, x1, #7                 // which
    ubfx    x22, x20, #2, #5            // n
    cbz     x22, 90f                    // word 0 (SGIs, PPIs) is in the redistributors
    cmp     x22, #VGIC_NWORDS
    b.hs    90f
    cbnz    x21, 11f
    add     x1, x19, #VGICD_GROUP
    ldr     x0, [x1, x22, lsl #3]
    leave
11: cmp     x21, #2
    b.hi    12f
    add     x1, x19, #VGICD_ENABLE
    ldr     x0, [x1, x22, lsl #3]
    leave
12: ldr     x0, [x19, #VGICD_VM]
    mov     x1, #0                      // every vCPU's list registers
    lsl     x2, x22, #5
    cmp     x21, #4
    b.hi    13f
    mov     x3, #62                     // pending
    bl      vgic_lr_bits
    add     x1, x19, #VGICD_PEND
    ldr     x1, [x1, x22, lsl #3]
    orr     x0, x0, x1
    leave
13: mov     x3, #63                     // active
    bl      vgic_lr_bits
    leave
2:  sub     x1, x20, #GICD_IPRIORITYR   // IPRIORITYR: four priorities per word
    cmp     x1, #VGIC_NUM_INTIDS
    b.hs    3f
    cmp     x1, #32
    b.lo    90f
    add     x2, x19, #VGICD_PRIO
    ldr     w0, [x2, x1]
    leave
3:  sub     x1, x20, #GICD_ICFGR        // ICFGR: sixteen interrupts per word
    cmp     x1, #(VGIC_NUM_INTIDS / 4)
    b.hs    4f
    cmp     x1, #8
    b.lo    90f
    lsl     x1, x1, #2                  // first INTID
    lsr     x2, x1, #5
    add     x3, x19, #VGICD_EDGE
    ldr     x0, [x3, x2, lsl #3]
    and     x1, x1, #31
    lsr     x0, x0, x1
    and     x0, x0, #0xFFFF
    bl      edge_to_icfgr
    leave
4:  mov     x2, #GICD_IROUTER           // IROUTER: one 64-bit register per SPI
    sub     x1, x20, x2
    cmp     x1, #(VGIC_NUM_INTIDS * 8)
    b.hs    5f
    cmp     x1, #(32 * 8)
    b.lo    90f
    bic     x2, x1, #7
    add     x3, x19, #VGICD_ROUTE
    ldr     x0, [x3, x2]
    tst     x1, #4
    b.eq    41f
    lsr     x0, x0, #32
41: mov     w0, w0
    leave
5:  mov     x2, #ID_REGS
    sub     x1, x20, x2
    cmp     x1, #48
    b.hs    90f
    lsr     x1, x1, #2
    adr     x2, gicd_ids
    ldrb    w0, [x2, x1]
    leave
90: mov     x0, #0                      // reserved, RAZ/WI, or not ours
    leave

// vgicd_write32(x0 = VGICD, x1 = word offset, x2 = value)
vgicd_write32:
    enter
    mov     x19, x0
    mov     x20, x1
    mov     w21, w2
    cmp     x20, #GICD_CTLR_OFF
    b.ne    1f
    and     x21, x21, #3                // EnableGrp0, EnableGrp1
    str     x21, [x19, #VGICD_CTLR]
    leave
1:  sub     x1, x20, #GICD_IGROUPR
    cmp     x1, #(7 * 0x80)
    b.hs    2f
    lsr     x2, x1, #7
    ubfx    x3, x20, #2, #5
    cbz     x3, 90f
    cmp     x3, #VGIC_NWORDS
    b.hs    90f
    cbnz    x2, 11f
    add     x1, x19, #VGICD_GROUP
    str     x21, [x1, x3, lsl #3]
    leave
11: add     x1, x19, #VGICD_ENABLE
    cmp     x2, #3
    b.lo    12f
    add     x1, x19, #VGICD_PEND
    cmp     x2, #5
    b.hs    90f                         // ISACTIVER/ICACTIVER: not emulated
12: ldr     x4, [x1, x3, lsl #3]
    tbz     x2, #0, 13f                 // odd: a "set" register; even: "clear"
    orr     x4, x4, x21
    b       14f
13: bic     x4, x4, x21
14: str     x4, [x1, x3, lsl #3]
    cmp     x2, #3                      // ISPENDR: the flush's quick look must see it
    b.ne    90f
    ldr     x4, [x19, #VGICD_PEND_WORDS]
    mov     x5, #1
    lsl     x5, x5, x3
    orr     x4, x4, x5
    str     x4, [x19, #VGICD_PEND_WORDS]
    leave
2:  sub     x1, x20, #GICD_IPRIORITYR
    cmp     x1, #VGIC_NUM_INTIDS
    b.hs    3f
    cmp     x1, #32
    b.lo    90f
    add     x2, x19, #VGICD_PRIO
    str     w21, [x2, x1]
    leave
3:  sub     x1, x20, #GICD_ICFGR
    cmp     x1, #(VGIC_NUM_INTIDS / 4)
    b.hs    4f
    cmp     x1, #8
    b.lo    90f
    lsl     x22, x1, #2                 // first INTID
    mov     x0, x21
    bl      icfgr_to_edge
    lsr     x2, x22, #5
    and     x1, x22, #31
    lsl     x0, x0, x1
    mov     x4, #0xFFFF
    lsl     x4, x4, x1
    add     x3, x19, #VGICD_EDGE
    ldr     x5, [x3, x2, lsl #3]
    bic     x5, x5, x4
    orr     x5, x5, x0
    str     x5, [x3, x2, lsl #3]
    leave
4:  mov     x2, #GICD_IROUTER
    sub     x1, x20, x2
    cmp     x1, #(VGIC_NUM_INTIDS * 8)
    b.hs    90f
    cmp     x1, #(32 * 8)
    b.lo    90f
    lsr     x22, x1, #3                 // INTID
    add     x3, x19, #VGICD_ROUTE
    ldr     x0, [x3, x22, lsl #3]
    tst     x1, #4
    b.eq    41f
    mov     w0, w0                      // the upper half
    orr     x0, x0, x21, lsl #32
    b       42f
41: lsr     x0, x0, #32                 // the lower half
    lsl     x0, x0, #32
    orr     x0, x0, x21
42: ldr     x4, =IROUTER_MASK
    and     x0, x0, x4
    str     x0, [x3, x22, lsl #3]
    mov     x5, #VGIC_NO_TARGET         // the vCPU it names: Aff3.Aff2.Aff1 = 0, Aff0 < vCPUs
    tst     x0, #IROUTER_IRM
    b.ne    43f
    ldr     x4, =0xFF00FFFF00
    tst     x0, x4
    b.ne    43f
    and     x1, x0, #0xFF
    ldr     x4, [x19, #VGICD_VM]
    ldr     x4, [x4, #VM_NR_VCPUS]
    cmp     x1, x4
    csel    x5, x1, x5, lo
43: add     x3, x19, #VGICD_TARGET
    strb    w5, [x3, x22]
    leave
90: leave

// vgicd_write8(x0 = VGICD, x1 = offset, x2 = byte): GICD_IPRIORITYR<n> bytes.
vgicd_write8:
    sub     x1, x1, #GICD_IPRIORITYR
    cmp     x1, #VGIC_NUM_INTIDS
    b.hs    1f
    cmp     x1, #32
    b.lo    1f
    add     x0, x0, #VGICD_PRIO
    strb    w2, [x0, x1]
1:  ret
    .size   vgicd_access, . - vgicd_access

// vgicr_access: the redistributors (GICR_BASE; vCPU n's RD_base and SGI_base frames at
// n * GICR_STRIDE). Frames of vCPUs the VM does not have read as zero, writes are ignored.
    .global vgicr_access
    .type   vgicr_access, %function
vgicr_access:
    enter_big
    mov     x19, x0
    mov     x21, x2
    mov     x22, x3
    mov     x23, x4
    mov     x24, x5
    lsr     x2, x1, #17                 // log2(GICR_STRIDE)
    mov     x20, #GICR_STRIDE
    sub     x20, x20, #1
    and     x20, x1, x20                // offset in the frames
    ldr     x3, [x19, #VM_NR_VCPUS]
    mov     x27, #0
    cmp     x2, x3
    b.hs    3f
    ldr     x25, [x19, #VM_VCPUS]
    mov     x3, #VCPU_SIZE
    madd    x25, x2, x3, x25            // x25 = that vCPU
    cbnz    x24, 1f
    ldr     x1, =(SGI_FRAME + GICD_ISPENDR)    // pending or active state: the list registers
    sub     x1, x20, x1                 // of this vCPU in memory first
    cmp     x1, #(GICD_IPRIORITYR - GICD_ISPENDR)
    b.hs    1f
    mov     x0, x23
    bl      vcpu_put
1:  mov     x0, x19
    bl      vm_vgicd
    add     x26, x0, #VGICD_LOCK
    spin_lock x26, x1, w2
    mov     x0, x25
    mov     x1, x20
    mov     x2, x21
    mov     x3, x22
    mov     x5, x24
    adr     x6, vgicr_read32
    adr     x7, vgicr_write32
    adr     x8, vgicr_write8
    bl      mmio_sized
    mov     x27, x0
    spin_unlock x26
    cbz     x24, 3f
    mov     x0, x25                     // a write may have made something deliverable
    bl      vgic_kick_vcpu
3:  mov     x0, x27
    leave_big

// vgicr_read32(x0 = vCPU, x1 = word offset in its frames) -> x0
vgicr_read32:
    enter
    mov     x19, x0
    mov     x20, x1
    mov     x1, #SGI_FRAME
    cmp     x20, x1
    b.hs    20f
    cmp     x20, #GICR_TYPER_OFF        // ---- RD_base
    b.ne    1f
    ldr     x0, [x19, #VCPU_INDEX]      // Processor_Number, Last
    ldr     x1, [x19, #VCPU_VM]
    ldr     x1, [x1, #VM_NR_VCPUS]
    sub     x1, x1, #1
    cmp     x0, x1
    cset    x1, eq
    lsl     x0, x0, #8
    orr     x0, x0, x1, lsl #4
    leave
1:  cmp     x20, #(GICR_TYPER_OFF + 4)  // Affinity_Value: Aff3.Aff2.Aff1.Aff0
    b.ne    1f
    ldr     x1, [x19, #VCPU_MPIDR]
    and     x0, x1, #0xFFFFFF
    ubfx    x1, x1, #32, #8
    orr     x0, x0, x1, lsl #24
    leave
1:  cmp     x20, #0x4                   // GICR_IIDR
    b.ne    1f
    mov     x0, #VGIC_IIDR
    leave
1:  cmp     x20, #GICR_WAKER_OFF
    b.ne    1f
    ldr     x0, [x19, #VCPU_VGICR_WAKER]
    leave
1:  mov     x2, #ID_REGS
    sub     x1, x20, x2
    cmp     x1, #48
    b.hs    90f
    lsr     x1, x1, #2
    adr     x2, gicr_ids
    ldrb    w0, [x2, x1]
    leave
20: sub     x20, x20, x1                // ---- SGI_base
    sub     x1, x20, #GICD_IGROUPR
    cmp     x1, #(7 * 0x80)
    b.hs    2f
    tst     x1, #0x7F
    b.ne    90f                         // only word 0 exists here
    lsr     x21, x1, #7
    cbnz    x21, 11f
    ldr     x0, [x19, #VCPU_VGICR_GROUP]
    leave
11: cmp     x21, #2
    b.hi    12f
    ldr     x0, [x19, #VCPU_VGICR_ENABLE]
    leave
12: ldr     x0, [x19, #VCPU_VM]
    mov     x1, x19
    mov     x2, #0
    cmp     x21, #4
    b.hi    13f
    mov     x3, #62
    bl      vgic_lr_bits
    mov     x22, x0
    mov     x0, x19
    bl      vtimer_level_mem
    ldr     x1, [x19, #VCPU_VGICR_PEND]
    orr     x22, x22, x1
    orr     x22, x22, x0, lsl #PPI_VIRT_TIMER
    mov     x0, x19
    bl      ptimer_level                // the emulated physical timer's line, too
    orr     x0, x22, x0, lsl #PPI_PHYS_TIMER
    leave
13: mov     x3, #63
    bl      vgic_lr_bits
    leave
2:  sub     x1, x20, #GICD_IPRIORITYR
    cmp     x1, #32
    b.hs    3f
    add     x2, x19, #VCPU_VGICR_PRIO
    ldr     w0, [x2, x1]
    leave
3:  cmp     x20, #GICD_ICFGR            // GICR_ICFGR0: the SGIs, edge-triggered
    b.ne    4f
    ldr     x0, =VGIC_ICFGR0
    leave
4:  cmp     x20, #(GICD_ICFGR + 4)      // GICR_ICFGR1: the PPIs
    b.ne    90f
    ldr     x0, [x19, #VCPU_VGICR_EDGE]
    lsr     x0, x0, #16
    bl      edge_to_icfgr
    leave
90: mov     x0, #0
    leave

// vgicr_write32(x0 = vCPU, x1 = word offset in its frames, x2 = value)
vgicr_write32:
    enter
    mov     x19, x0
    mov     x20, x1
    mov     w21, w2
    mov     x1, #SGI_FRAME
    cmp     x20, x1
    b.hs    20f
    cmp     x20, #GICR_WAKER_OFF        // ProcessorSleep; ChildrenAsleep follows at once
    b.ne    90f
    and     x21, x21, #2
    orr     x21, x21, x21, lsl #1
    str     x21, [x19, #VCPU_VGICR_WAKER]
    leave
20: sub     x20, x20, x1
    sub     x1, x20, #GICD_IGROUPR
    cmp     x1, #(7 * 0x80)
    b.hs    2f
    tst     x1, #0x7F
    b.ne    90f
    lsr     x2, x1, #7
    cbnz    x2, 11f
    str     x21, [x19, #VCPU_VGICR_GROUP]
    leave
11: add     x1, x19, #VCPU_VGICR_ENABLE
    cmp     x2, #3
    b.lo    12f
    add     x1, x19, #VCPU_VGICR_PEND
    cmp     x2, #5
    b.hs    90f                         // ISACTIVER0/ICACTIVER0: not emulated
12: ldr     x4, [x1]
    tbz     x2, #0, 13f
    orr     x4, x4, x21
    b       14f
13: bic     x4, x4, x21
14: str     x4, [x1]
    leave
2:  sub     x1, x20, #GICD_IPRIORITYR
    cmp     x1, #32
    b.hs    3f
    add     x2, x19, #VCPU_VGICR_PRIO
    str     w21, [x2, x1]
    leave
3:  cmp     x20, #(GICD_ICFGR + 4)      // GICR_ICFGR1 (ICFGR0 is read-only)
    b.ne    90f
    mov     x0, x21
    bl      icfgr_to_edge
    lsl     x0, x0, #16
    mov     x1, #0xFFFF
    orr     x0, x0, x1
    str     x0, [x19, #VCPU_VGICR_EDGE]
90: leave

// vgicr_write8(x0 = vCPU, x1 = offset in its frames, x2 = byte): GICR_IPRIORITYR<n> bytes.
vgicr_write8:
    sub     x1, x1, #SGI_FRAME
    sub     x1, x1, #GICD_IPRIORITYR
    cmp     x1, #32
    b.hs    1f
    add     x0, x0, #VCPU_VGICR_PRIO
    strb    w2, [x0, x1]
1:  ret

gicd_ids:                               // PIDR4-7, PIDR0-3 (PIDR2.ArchRev = 3), CIDR0-3
    .byte   0x44, 0, 0, 0, 0x92, 0xB4, 0x3B, 0, 0x0D, 0xF0, 0x05, 0xB1
gicr_ids:
    .byte   0x44, 0, 0, 0, 0x93, 0xB4, 0x3B, 0, 0x0D, 0xF0, 0x05, 0xB1
    .balign 4
    .size   vgicr_access, . - vgicr_access
