// The virtual GIC's and the virtual timer's registers in the world switch (KVM:
// arch/arm64/kvm/hyp/vgic-v3-sr.c and hyp/timer-sr.c). EL2 code: these registers exist only
// there (ICH_*_EL2), or belong to the guest while it runs (CNTV_*_EL0).
//
// The virtual CPU interface of a vCPU is ICH_HCR_EL2, ICH_VMCR_EL2 (the guest's ICC_PMR/BPR/
// IGRPEN/CTLR as ICV_* registers see them), the active priorities ICH_AP0R0/AP1R0_EL2 and the
// list registers ICH_LR<n>_EL2, n < ICH_VTR_EL2.ListRegs + 1. The firmware checks at boot that
// the GIC has VGIC_PRI_BITS priority bits (ICH_VTR_EL2.PRIbits), so one AP0R/AP1R each holds
// every active priority (32 of them); more priority bits would need ICH_AP<n>R1..3 as well.
//
// Split build: saved on every exit and restored on every entry, next to the EL1 registers (the
// full round trip KVM/ARM's published hypercall cost is made of). Direct build: they stay in
// the PE while the same vCPU keeps running (vcpu_load/vcpu_put), and the exit handlers, at
// EL2, reach the list registers directly (__vgic_read_lr/__vgic_write_lr).

// __vgic_v3_save_state(x0 = vCPU): the interface into the vCPU, then ICH_HCR_EL2 = 0 (virtual
// interface off: no virtual interrupt, no maintenance interrupt while the host or EL2 runs).
// Clobbers x1..x3.
    .global __vgic_v3_save_state
    .type   __vgic_v3_save_state, %function
__vgic_v3_save_state:
    phase   vgic, save
    mrs     x1, ich_hcr_el2
    str     x1, [x0, #VCPU_VGIC_HCR]
    mrs     x1, ich_vmcr_el2
    str     x1, [x0, #VCPU_VGIC_VMCR]
    mrs     x1, ich_ap0r0_el2
    str     x1, [x0, #VCPU_VGIC_AP0R]
    mrs     x1, ich_ap1r0_el2
    str     x1, [x0, #VCPU_VGIC_AP1R]
    msr     ich_hcr_el2, xzr
    add     x3, x0, #VCPU_VGIC_LR
    mrs     x2, ich_vtr_el2
    and     x2, x2, #0x1F               // ListRegs: the number of list registers - 1
    adr     x1, 1f
    sub     x1, x1, x2, lsl #3          // two instructions per register, LR15 first
    sub     x1, x1, #8
    br      x1
    mrs     x2, ich_lr15_el2
    str     x2, [x3, #120]
    mrs     x2, ich_lr14_el2
    str     x2, [x3, #112]
    mrs     x2, ich_lr13_el2
    str     x2, [x3, #104]
    mrs     x2, ich_lr12_el2
    str     x2, [x3, #96]
    mrs     x2, ich_lr11_el2
    str     x2, [x3, #88]
    mrs     x2, ich_lr10_el2
    str     x2, [x3, #80]
    mrs     x2, ich_lr9_el2
    str     x2, [x3, #72]
    mrs     x2, ich_lr8_el2
    str     x2, [x3, #64]
    mrs     x2, ich_lr7_el2
    str     x2, [x3, #56]
    mrs     x2, ich_lr6_el2
    str     x2, [x3, #48]
    mrs     x2, ich_lr5_el2
    str     x2, [x3, #40]
    mrs     x2, ich_lr4_el2
    str     x2, [x3, #32]
    mrs     x2, ich_lr3_el2
    str     x2, [x3, #24]
    mrs     x2, ich_lr2_el2
    str     x2, [x3, #16]
    mrs     x2, ich_lr1_el2
    str     x2, [x3, #8]
    mrs     x2, ich_lr0_el2
    str     x2, [x3, #0]
1:  ret
    .size   __vgic_v3_save_state, . - __vgic_v3_save_state

// __vgic_v3_restore_state(x0 = vCPU): the reverse, ICH_HCR_EL2 last. Clobbers x1..x3.
    .global __vgic_v3_restore_state
    .type   __vgic_v3_restore_state, %function
__vgic_v3_restore_state:
    phase   vgic, restore
    ldr     x1, [x0, #VCPU_VGIC_VMCR]
    msr     ich_vmcr_el2, x1
    ldr     x1, [x0, #VCPU_VGIC_AP0R]
    msr     ich_ap0r0_el2, x1
    ldr     x1, [x0, #VCPU_VGIC_AP1R]
    msr     ich_ap1r0_el2, x1
    add     x3, x0, #VCPU_VGIC_LR
    mrs     x2, ich_vtr_el2
    and     x2, x2, #0x1F
    adr     x1, 1f
    sub     x1, x1, x2, lsl #3
    sub     x1, x1, #8
    br      x1
    ldr     x2, [x3, #120]
    msr     ich_lr15_el2, x2
    ldr     x2, [x3, #112]
    msr     ich_lr14_el2, x2
    ldr     x2, [x3, #104]
    msr     ich_lr13_el2, x2
    ldr     x2, [x3, #96]
    msr     ich_lr12_el2, x2
    ldr     x2, [x3, #88]
    msr     ich_lr11_el2, x2
    ldr     x2, [x3, #80]
    msr     ich_lr10_el2, x2
    ldr     x2, [x3, #72]
    msr     ich_lr9_el2, x2
    ldr     x2, [x3, #64]
    msr     ich_lr8_el2, x2
    ldr     x2, [x3, #56]
    msr     ich_lr7_el2, x2
    ldr     x2, [x3, #48]
    msr     ich_lr6_el2, x2
    ldr     x2, [x3, #40]
    msr     ich_lr5_el2, x2
    ldr     x2, [x3, #32]
    msr     ich_lr4_el2, x2
    ldr     x2, [x3, #24]
    msr     ich_lr3_el2, x2
    ldr     x2, [x3, #16]
    msr     ich_lr2_el2, x2
    ldr     x2, [x3, #8]
    msr     ich_lr1_el2, x2
    ldr     x2, [x3, #0]
    msr     ich_lr0_el2, x2
1:  ldr     x1, [x0, #VCPU_VGIC_HCR]
    msr     ich_hcr_el2, x1
    ret

#ifdef HV_DIRECT
    .size   __vgic_v3_restore_state, . - __vgic_v3_restore_state
// __vgic_read_lr(x0 = n) -> x0 = ICH_LR<n>_EL2; __vgic_write_lr(x0 = n, x1 = value). For the
// exit handlers of the direct build, which run at EL2 with the vCPU's interface in the PE.
// Clobber x2 only.
    .global __vgic_read_lr
    .type   __vgic_read_lr, %function
__vgic_read_lr:
    phase   handler
    adr     x2, 1f
    add     x2, x2, x0, lsl #3
    br      x2
1:
    mrs     x0, ich_lr0_el2
    ret
    mrs     x0, ich_lr1_el2
    ret
    mrs     x0, ich_lr2_el2
    ret
    mrs     x0, ich_lr3_el2
    ret
    mrs     x0, ich_lr4_el2
    ret
    mrs     x0, ich_lr5_el2
    ret
    mrs     x0, ich_lr6_el2
    ret
    mrs     x0, ich_lr7_el2
    ret
    mrs     x0, ich_lr8_el2
    ret
    mrs     x0, ich_lr9_el2
    ret
    mrs     x0, ich_lr10_el2
    ret
    mrs     x0, ich_lr11_el2
    ret
    mrs     x0, ich_lr12_el2
    ret
    mrs     x0, ich_lr13_el2
    ret
    mrs     x0, ich_lr14_el2
    ret
    mrs     x0, ich_lr15_el2
    ret
    .size   __vgic_read_lr, . - __vgic_read_lr

    .global __vgic_write_lr
    .type   __vgic_write_lr, %function
__vgic_write_lr:
    adr     x2, 1f
    add     x2, x2, x0, lsl #3
    br      x2
1:
    msr     ich_lr0_el2, x1
    ret
    msr     ich_lr1_el2, x1
    ret
    msr     ich_lr2_el2, x1
    ret
    msr     ich_lr3_el2, x1
    ret
    msr     ich_lr4_el2, x1
    ret
    msr     ich_lr5_el2, x1
    ret
    msr     ich_lr6_el2, x1
    ret
    msr     ich_lr7_el2, x1
    ret
    msr     ich_lr8_el2, x1
    ret
    msr     ich_lr9_el2, x1
    ret
    msr     ich_lr10_el2, x1
    ret
    msr     ich_lr11_el2, x1
    ret
    msr     ich_lr12_el2, x1
    ret
    msr     ich_lr13_el2, x1
    ret
    msr     ich_lr14_el2, x1
    ret
    msr     ich_lr15_el2, x1
    ret
#endif
    .size   __vgic_write_lr, . - __vgic_write_lr

// __timer_save_state(x0 = vCPU): CNTV_CTL_EL0 (ENABLE, IMASK) and CNTV_CVAL_EL0 into the vCPU,
// then the timer off, so that its output (PPI 27) cannot fire for the host or the next vCPU.
// The timer counts CNTPCT_EL0 - CNTVOFF_EL2 (the VM's, set by __activate_traps), so a vCPU's
// deadline stays where the guest put it whoever runs in between. Clobbers x1.
    .global __timer_save_state
    .type   __timer_save_state, %function
__timer_save_state:
    phase   timer, save
    mrs     x1, cntv_ctl_el0
    and     x1, x1, #3
    str     x1, [x0, #VCPU_CNTV_CTL]
    mrs     x1, cntv_cval_el0
    str     x1, [x0, #VCPU_CNTV_CVAL]
    msr     cntv_ctl_el0, xzr
    ret
    .size   __timer_save_state, . - __timer_save_state

// __timer_restore_state(x0 = vCPU), after CNTVOFF_EL2: the compare value first, then the
// control (which may assert the output at once: the guest's timer expired while it was out).
    .global __timer_restore_state
    .type   __timer_restore_state, %function
__timer_restore_state:
    phase   timer, restore
    ldr     x1, [x0, #VCPU_CNTV_CVAL]
    msr     cntv_cval_el0, x1
    ldr     x1, [x0, #VCPU_CNTV_CTL]
    msr     cntv_ctl_el0, x1
    ret
    .size   __timer_restore_state, . - __timer_restore_state
