// The EL1 physical timer of each vCPU, emulated (KVM: arch/arm64/kvm/arch_timer.c, the
// "ptimer" of a vCPU without nested virtualization).
//
// The PE's own EL1 physical timer is the hypervisor's: the split build's host part uses it as
// its timer (HOST_TIMER_PPI_SPLIT). While a guest runs, CNTHCTL_EL2.EL1PCEN = 0 makes every
// CNTP_CTL/CVAL/TVAL_EL0 access trap (EC 0x18, host/sysreg.S hands it here); CNTPCT_EL0 stays
// readable (EL1PCTEN = 1). A vCPU's timer is two words of its VCPU record (CNTP_CTL, CNTP_CVAL)
// compared against the physical count, CNTPCT_EL0 (no offset: as KVM's ptimer).
//   - its line (ENABLE, not IMASK, CNTPCT >= CVAL) is a level-sensitive PPI 30 of the vCPU's
//     virtual redistributor: vgic_flush puts it in a list register before each run while it is
//     high (a software interrupt, HW = 0: the guest's EOI ends it, and a line still high makes
//     it pending again at the next flush, as a level does);
//   - its deadline wakes the vCPU or ends its run: pick_vcpu (host/run.S) arms the host's own
//     timer (CNTP in the split build, CNTHP in the direct one) for the earliest deadline of the
//     PE's vCPUs, running or blocked; when it fires the guest exits, and the next flush
//     delivers the interrupt.
// The state is only ever in memory, so the handlers below need no vcpu_put, and the timer
// moves with its vCPU by itself.

#define CNT_ENABLE      1
#define CNT_IMASK       2
#define CNT_ISTATUS     4

// ptimer_level(x0 = vCPU) -> x0 = 1 if its physical timer's output is asserted. Clobbers x1, x2.
    .global ptimer_level
    .type   ptimer_level, %function
ptimer_level:
    phase   host                        // the run loop's look at the emulated timer
    ldr     x1, [x0, #VCPU_CNTP_CTL]
    and     x1, x1, #(CNT_ENABLE | CNT_IMASK)
    cmp     x1, #CNT_ENABLE
    b.ne    1f
    ldr     x1, [x0, #VCPU_CNTP_CVAL]
    mrs     x2, cntpct_el0
    cmp     x2, x1
    cset    x0, hs
    ret
1:  mov     x0, #0
    ret
    .size   ptimer_level, . - ptimer_level

// ptimer_deadline(x0 = vCPU) -> x0 = the physical count at which its physical timer's line
// rises, or -1 (off, masked, already high, or PPI 30 disabled in its redistributor: nothing to
// wake it for). Clobbers x1, x2.
    .global ptimer_deadline
    .type   ptimer_deadline, %function
ptimer_deadline:
    ldr     x1, [x0, #VCPU_CNTP_CTL]
    and     x1, x1, #(CNT_ENABLE | CNT_IMASK)
    cmp     x1, #CNT_ENABLE
    b.ne    1f
    ldr     x1, [x0, #VCPU_VGICR_ENABLE]
    tbz     x1, #PPI_PHYS_TIMER, 1f
    ldr     x1, [x0, #VCPU_CNTP_CVAL]
    mrs     x2, cntpct_el0
    cmp     x2, x1
    b.hs    1f
    mov     x0, x1
    ret
1:  mov     x0, #-1
    ret
    .size   ptimer_deadline, . - ptimer_deadline

// ptimer_access(x0 = vCPU, x1 = ESR_EL2): a trapped MRS/MSR of CNTP_TVAL/CTL/CVAL_EL0 (Op2
// 0/1/2), done on the vCPU's record as the Arm ARM's generic timer does it (D11.2.4):
//   CTL   ENABLE and IMASK as written; ISTATUS = ENABLE && CNTPCT >= CVAL
//   CVAL  as written
//   TVAL  reads (CVAL - CNTPCT)[31:0]; a write sets CVAL = CNTPCT + SignExtend(TVAL[31:0])
// The instruction is completed here; a new deadline is armed by the run loop's next pick_vcpu.
    .global ptimer_access
    .type   ptimer_access, %function
ptimer_access:
    phase   handler
    enter
    mov     x19, x0
    mov     x20, x1
    ubfx    x21, x20, #ESR_SYSREG_OP2_SHIFT, #ESR_SYSREG_OP2_WIDTH  // 0 TVAL, 1 CTL, 2 CVAL
    ubfx    x9, x20, #ESR_SYSREG_RT_SHIFT, #ESR_SYSREG_RT_WIDTH
    mrs     x3, cntpct_el0
    tbz     x20, #ESR_SYSREG_DIRECTION_SHIFT, 5f  // Direction 0: a write
    cmp     x21, #1
    b.ne    2f
    ldr     x2, [x19, #VCPU_CNTP_CTL]   // CTL
    tbz     x2, #0, 1f
    ldr     x4, [x19, #VCPU_CNTP_CVAL]
    cmp     x3, x4
    b.lo    1f
    orr     x2, x2, #CNT_ISTATUS
1:  b       8f
2:  ldr     x2, [x19, #VCPU_CNTP_CVAL]
    cmp     x21, #2
    b.eq    8f                          // CVAL
    sub     x2, x2, x3                  // TVAL
    mov     w2, w2
8:  ctxt_set_reg x19, x9, x2
    b       9f
5:  ctxt_get_reg x2, x19, x9
    cmp     x21, #1
    b.ne    6f
    and     x2, x2, #(CNT_ENABLE | CNT_IMASK)
    str     x2, [x19, #VCPU_CNTP_CTL]
    b       9f
6:  cmp     x21, #2
    b.eq    7f
    sxtw    x2, w2                      // TVAL
    add     x2, x3, x2
7:  str     x2, [x19, #VCPU_CNTP_CVAL]
9:  mov     x0, x19
    bl      skip_instruction
    leave
    .size   ptimer_access, . - ptimer_access
