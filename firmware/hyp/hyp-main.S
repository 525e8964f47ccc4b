// The EL2 part around __guest_enter: running a vCPU, the exits EL2 fixes by itself, lazy
// FP/SIMD switching, and the host's calls into EL2 (split build).
//
// Split build (KVM/ARM nVHE): the host part asks EL2 to run a vCPU with HVC HOST_HC_VCPU_RUN.
// __kvm_vcpu_run then does a full world switch each time:
//   host EL1 system registers out, guest EL2 configuration in (HCR_EL2, VTTBR_EL2,
//   VMPIDR_EL2, CNTVOFF_EL2, MDCR_EL2, CNTHCTL_EL2, CPTR_EL2, VBAR_EL2), guest EL1 system
//   registers in, __guest_enter ... __guest_exit, guest EL1 registers out, host EL2
//   configuration and EL1 registers back, ERET to the host with the exit code.
// Direct build (Xen-like): the exit handlers run at EL2, so __direct_vcpu_run only switches EL1
// state when the PE runs a different vCPU than last time (PCPU_LOADED).
// Both: FP/SIMD registers are switched lazily. PCPU_FP_OWNER names the context whose values
// are in the registers; any other context runs with CPTR_EL2.TFP = 1, and its first FP/SIMD
// instruction traps (EC 0x07) to __fpsimd_switch, which saves the owner's and loads its own.
//
// Both builds move the virtual timer (CNTV_CTL/CVAL_EL0) and the virtual GIC interface
// (ICH_HCR/VMCR/AP0R0/AP1R0/LR<n>_EL2) with the EL1 registers (hyp/vgic-v3-sr.S); what goes
// into the list registers before an entry, and comes out of them after an exit, is the exit
// handlers' business (host/vgic.S: vgic_flush, vgic_sync).

// __activate_traps(x0 = vCPU): the EL2 configuration a guest runs with.
__activate_traps:
    phase   el2, restore
    ldr     x1, [x0, #VCPU_HCR]
    msr     hcr_el2, x1
    phase   stage2, restore             // the VM's identity and its stage 2
    ldr     x1, [x0, #VCPU_MPIDR]
    msr     vmpidr_el2, x1
    ldr     x2, [x0, #VCPU_VM]
    ldr     x1, [x2, #VM_VTTBR]
    msr     vttbr_el2, x1
    phase   timer, restore
    ldr     x1, [x2, #VM_CNTVOFF]
    msr     cntvoff_el2, x1
    phase   el2, restore
    ldr     x1, =MDCR_GUEST             // debug registers trapped until first used
    ldr     x2, [x0, #VCPU_DBG_DIRTY]
    cbz     x2, 2f
    bic     x1, x1, #MDCR_TDEBUG
2:  msr     mdcr_el2, x1
    mov     x1, #CNTHCTL_GUEST
    msr     cnthctl_el2, x1
    ldr     x1, =__guest_vectors
    msr     vbar_el2, x1
    // fall through: CPTR_EL2 for the context in x0
// __set_cptr(x0 = CTXT about to run): trap FP/SIMD unless its state is in the registers.
__set_cptr:
    mrs     x1, tpidr_el2
    ldr     x1, [x1, #PCPU_FP_OWNER]
    mov     x2, #CPTR_RES1
    cmp     x1, x0
    b.eq    1f
    orr     x2, x2, #CPTR_TFP
1:  msr     cptr_el2, x2
    isb
    ret

// __fpsimd_switch(x0 = CTXT that trapped): make its FP/SIMD state the live one.
__fpsimd_switch:
    phase   fp, restore
    enter
    mov     x19, x0
    mrs     x20, tpidr_el2
    mov     x1, #CPTR_RES1              // EL2 itself may touch the registers now
    msr     cptr_el2, x1
    isb
    ldr     x0, [x20, #PCPU_FP_OWNER]
    cbz     x0, 1f
    bl      __fpsimd_save
1:  mov     x0, x19
    bl      __fpsimd_restore
    str     x19, [x20, #PCPU_FP_OWNER]
    leave

// fixup_guest_exit(x0 = vCPU, x1 = exit code) -> x0 = 1 if EL2 dealt with the exit and the
// guest can go straight back in, 0 if the exit handlers must see it (KVM: fixup_guest_exit).
fixup_guest_exit:
    phase   dispatch
    enter
    mov     x19, x0
    cmp     x1, #EXC_SYNC
    b.ne    1f
    ldr     x2, [x19, #VCPU_FAULT_ESR]
    lsr     x2, x2, #26
    cmp     x2, #EC_FP_ACCESS
    b.ne    1f
    bl      __fpsimd_switch             // the guest's first FP/SIMD use since it lost them
    mov     x0, x19
    bl      __set_cptr
    ldr     x1, [x19, #VCPU_STAT + STAT_FP * 8]
    add     x1, x1, #1
    str     x1, [x19, #VCPU_STAT + STAT_FP * 8]
    ldr     x1, [x19, #VCPU_EXITS]
    add     x1, x1, #1
    str     x1, [x19, #VCPU_EXITS]
    mov     x0, #1
    leave
1:  mov     x0, #0
    leave

#ifdef HV_SPLIT
// ---------------------------------------------------------------------------------------------
// Split build: the host part's calls into EL2.
// x0 = HOST_HC_*, x1.. arguments; x0 = result. Like a function call, x0..x17 are clobbered;
// the host's x18..x30 and its ELR_EL2/SPSR_EL2 survive.
host_sync:
    phase   dispatch
    push2   x29, x30
    mrs     x16, esr_el2
    lsr     x16, x16, #26
    cmp     x16, #EC_HVC64
    b.ne    2f
    cmp     x0, #HOST_HC_VCPU_RUN
    b.ne    1f
    mov     x0, x1
    bl      __kvm_vcpu_run
    pop2    x29, x30
    eret
1:  cmp     x0, #HOST_HC_S2_FLUSH
    b.ne    1f
    mov     x0, x1
    bl      __s2_flush_vmid             // hyp/stage2.S
    mov     x0, #0
    b       9f
1:  cmp     x0, #HOST_HC_NOP
    mov     x0, #0
    b.eq    9f
    mov     x0, #-1                     // unknown host call
9:  pop2    x29, x30
    eret
2:  cmp     x16, #EC_FP_ACCESS          // the host touched FP/SIMD while a guest owned them
    b.ne    3f
    mrs     x0, tpidr_el2
    add     x0, x0, #PCPU_HOST_CTXT
    bl      __fpsimd_switch
    mrs     x0, tpidr_el2
    add     x0, x0, #PCPU_HOST_CTXT
    bl      __set_cptr
    pop2    x29, x30
    eret
3:  pop2    x29, x30
    b       hyp_panic_vector

// __kvm_vcpu_run(x0 = vCPU) -> x0 = exit code: one full world switch there and back.
__kvm_vcpu_run:
    phase   dispatch
    enter
    mov     x19, x0
    mrs     x20, tpidr_el2              // the PCPU; its HOST_CTXT is at offset 0
    phase   gp, save
    mrs     x1, elr_el2                 // the host's own return state
    str     x1, [x20, #CTXT_PC]
    mrs     x1, spsr_el2
    str     x1, [x20, #CTXT_PSTATE]
    save_el1_sysregs x20, x1            // host EL1 state out
    phase   el2, restore
    mov     x0, x19
    bl      __activate_traps            // guest EL2 configuration in (CNTVOFF_EL2 included)
    restore_el1_sysregs x19, x1         // guest EL1 state in
    phase   timer, restore
    mov     x0, x19
    bl      __debug_load                // its debug registers, if it uses them
    mov     x0, x19
    bl      __timer_restore_state       // its virtual timer
    phase   vgic, restore
    mov     x0, x19
    bl      __vgic_v3_restore_state     // its virtual CPU interface and list registers
    phase   gp, save
1:  mov     x0, x19
    mov     x1, x20
    bl      __guest_enter
    phase   dispatch
    mov     x21, x0
    debug_ran x19, x1
    mov     x0, x19
    mov     x1, x21
    bl      fixup_guest_exit
    cbnz    x0, 1b
    save_el1_sysregs x19, x1            // guest EL1 state out
    phase   timer, save
    mov     x0, x19
    bl      __debug_put                 // its debug registers, if it used them: out, and off
    mov     x0, x19
    bl      __timer_save_state          // its timer out, and off
    phase   vgic, save
    mov     x0, x19
    bl      __vgic_v3_save_state        // its virtual interface out, and off
    phase   el2, save
    str     xzr, [x20, #PCPU_VCPU]
    mov     x1, #HCR_HOST               // host EL2 configuration back
    msr     hcr_el2, x1
    phase   stage2, save
    msr     vttbr_el2, xzr
    phase   el2, save
    mov     x1, #MDCR_HOST
    msr     mdcr_el2, x1
    mov     x1, #CNTHCTL_HOST
    msr     cnthctl_el2, x1
    ldr     x1, =__host_vectors
    msr     vbar_el2, x1
    mov     x0, x20
    bl      __set_cptr
    restore_el1_sysregs x20, x1         // host EL1 state back
    phase   gp, restore
    ldr     x1, [x20, #CTXT_PC]
    msr     elr_el2, x1
    ldr     x1, [x20, #CTXT_PSTATE]
    msr     spsr_el2, x1
    mov     x0, x21
    leave
#else
// ---------------------------------------------------------------------------------------------
// Direct build: __direct_vcpu_run(x0 = vCPU) -> x0 = exit code, called at EL2 by the run loop
// once vcpu_load has put the vCPU's state in the PE.
    .global __direct_vcpu_run
    .type   __direct_vcpu_run, %function
__direct_vcpu_run:
    phase   dispatch
    enter
    mov     x19, x0
    mrs     x20, tpidr_el2
    phase   gp, save
1:  mov     x0, x19
    mov     x1, x20
    bl      __guest_enter
    phase   dispatch
    mov     x21, x0
    debug_ran x19, x1
    mov     x0, x19
    mov     x1, x21
    bl      fixup_guest_exit
    cbnz    x0, 1b
    str     xzr, [x20, #PCPU_VCPU]
    mov     x0, x21
    leave
#endif
    .size   __direct_vcpu_run, . - __direct_vcpu_run

// vcpu_load(x0 = vCPU): before the run loop flushes interrupts into it and runs it. Direct
// build: its EL1 registers, virtual timer, virtual GIC interface and EL2 configuration go into
// the PE unless they are there already (PCPU_LOADED), after putting away those of the vCPU
// loaded before. Split build: nothing (the world switch moves everything on each run).
    .global vcpu_load
    .type   vcpu_load, %function
vcpu_load:
    phase   host
#ifdef HV_DIRECT
    enter
    mov     x19, x0
    bl      pmu_load                    // its share of the PMU (host/pmu.S)
    mrs     x20, tpidr_el2
    ldr     x0, [x20, #PCPU_LOADED]
    cmp     x0, x19
    b.eq    1f
    cbz     x0, 2f
    bl      vcpu_put                    // another vCPU's state is live: put it away
2:  phase   el2, restore
    mov     x0, x19
    bl      __activate_traps            // CNTVOFF_EL2 before the timer
    restore_el1_sysregs x19, x1
    phase   timer, restore
    mov     x0, x19
    bl      __debug_load
    mov     x0, x19
    bl      __timer_restore_state
    phase   vgic, restore
    mov     x0, x19
    bl      __vgic_v3_restore_state
    phase   host
    str     x19, [x20, #PCPU_LOADED]
1:  leave
#else
    b       pmu_load                    // its share of the PMU (host/pmu.S), at EL1
#endif
    .size   vcpu_load, . - vcpu_load

// vcpu_put(x0 = vCPU): its EL1 system registers, virtual timer and virtual GIC interface must
// be in memory from now on, because an exit handler is about to read or change them, or the
// vCPU blocks or stops; the timer and the virtual interface are left off. A no-op in the
// split build: everything is saved on every exit there.
    .global vcpu_put
    .type   vcpu_put, %function
vcpu_put:
#ifdef HV_DIRECT
    mrs     x1, tpidr_el2
    ldr     x2, [x1, #PCPU_LOADED]
    cmp     x2, x0
    b.ne    1f
    str     xzr, [x1, #PCPU_LOADED]     // the next run restores them from memory
    save_el1_sysregs x0, x2
    phase   timer, save
    mov     x9, x30
    bl      __debug_put
    bl      __timer_save_state
    phase   vgic, save
    bl      __vgic_v3_save_state
    phase   host
    mov     x30, x9
1:
#endif
    ret
    .size   vcpu_put, . - vcpu_put

// vcpu_forget_fp(x0 = vCPU) — on its own PE, when its state is discarded (CPU_OFF, reset):
// the registers (FP/SIMD, and its share of the PMU) no longer hold anything of value, so
// nobody owns them.
    .global vcpu_forget_fp
    .type   vcpu_forget_fp, %function
vcpu_forget_fp:
    phase   host
    this_pcpu x1
    ldr     x2, [x1, #PCPU_FP_OWNER]
    cmp     x2, x0
    b.ne    1f
    str     xzr, [x1, #PCPU_FP_OWNER]
1:  ldr     x2, [x1, #PCPU_PMU_OWNER]   // its share of the PMU too
    cmp     x2, x0
    b.ne    3f
    str     xzr, [x1, #PCPU_PMU_OWNER]
3:
#ifdef HV_DIRECT
    ldr     x2, [x1, #PCPU_LOADED]
    cmp     x2, x0
    b.ne    2f
    str     xzr, [x1, #PCPU_LOADED]
2:
#endif
    ret

// hyp_panic(x0 = ESR, x1 = ELR, x2 = FAR): an exception at EL2 that must not happen.
hyp_panic:
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    mrs     x0, tpidr_el2
    ldr     x22, [x0, #PCPU_INDEX]
    ldr     x0, [x0, #PCPU_EL2_SP]      // a known good stack
    mov     sp, x0
    bl      log_begin
    log_s   "PANIC: unexpected exception at EL2"
    b       panic_report

#ifdef HV_SPLIT
host_panic:                             // the same, taken by the host part at EL1
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    mrs     x0, tpidr_el1
    ldr     x22, [x0, #PCPU_INDEX]
    ldr     x0, [x0, #PCPU_HOST_SP]
    mov     sp, x0
    bl      log_begin
    log_s   "PANIC: unexpected exception in the host part (EL1)"
#endif

panic_report:                           // x19..x22 = ESR, ELR, FAR, PE; a line is open
    log_s   " on PE "
    mov     x0, x22
    bl      log_dec
    log_s   ": ESR=0x"
    mov     x0, x19
    bl      log_hex
    log_s   " ELR=0x"
    mov     x0, x20
    bl      log_hex
    log_s   " FAR=0x"
    mov     x0, x21
    bl      log_hex
    bl      log_end
    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    mov     x3, x22
    .size   vcpu_forget_fp, . - vcpu_forget_fp
    // fall through

// hv_stop_machine_panic(x0 = ESR, x1 = ELR, x2 = FAR, x3 = PE): record the panic in the manifest for
// the Python side and switch the machine off.
    .global hv_stop_machine_panic
    .type   hv_stop_machine_panic, %function
hv_stop_machine_panic:
    ldr     x9, =HV_MANIFEST
    str     x0, [x9, #MAN_PANIC_ESR]
    str     x1, [x9, #MAN_PANIC_ELR]
    str     x2, [x9, #MAN_PANIC_FAR]
    str     x3, [x9, #MAN_PANIC_PE]
    mov     x0, #HV_STATE_PANIC
    str     x0, [x9, #MAN_HV_STATE]
    b       machine_off
    .size   hv_stop_machine_panic, . - hv_stop_machine_panic

// machine_off: PSCI SYSTEM_OFF to the board's firmware (EL3's part, played by the emulator).
// SMC from EL2, or from the host part at EL1, whose HCR_EL2.TSC is 0.
    .global machine_off
    .type   machine_off, %function
machine_off:
    dsb     sy
    ldr     x0, =PSCI_SYSTEM_OFF
    smc     #0
1:  wfe
    b       1b
    .size   machine_off, . - machine_off
