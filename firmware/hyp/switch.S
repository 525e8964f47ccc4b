// The world switch's innermost part: general registers in and out of the guest.
//
// __guest_enter(x0 = vCPU, x1 = PCPU) is called like a function by the EL2 code. It saves the
// caller's callee-saved registers (x18..x30, SP) in PCPU_HYP_REGS, loads the guest's PC and
// PSTATE into ELR_EL2/SPSR_EL2 and all 31 general registers from the vCPU's context, and ERETs.
// The guest runs until an exception takes it to __guest_vectors, whose entry keeps the guest's
// x0/x1 on the stack and jumps to __guest_exit with the exit code (EXC_*) in x0. __guest_exit
// stores the guest's registers, PC, PSTATE and the syndrome (ESR/FAR/HPFAR_EL2: KVM's
// vcpu->arch.fault), restores the callee-saved registers, and "returns" from __guest_enter.
// (KVM: arch/arm64/kvm/hyp/entry.S.)
//
// Everything else a switch moves — EL1 system registers, FP/SIMD, EL2 configuration — is the
// business of the callers (hyp/hyp-main.S), which decide how much to move: everything on each
// exit in the split build, only what changed in the direct one.

    .global __guest_enter
    .type   __guest_enter, %function
__guest_enter:
    phase   gp, save                    // EL2's own registers out
    add     x2, x1, #PCPU_HYP_REGS
    stp     x18, x19, [x2, #0]
    stp     x20, x21, [x2, #16]
    stp     x22, x23, [x2, #32]
    stp     x24, x25, [x2, #48]
    stp     x26, x27, [x2, #64]
    stp     x28, x29, [x2, #80]
    mov     x3, sp
    stp     x30, x3, [x2, #96]
    str     x0, [x1, #PCPU_VCPU]        // __guest_exit finds the vCPU here
    phase   gp, restore                 // the guest's PC, PSTATE and registers in
    ldr     x2, [x0, #CTXT_PC]
    msr     elr_el2, x2
    ldr     x2, [x0, #CTXT_PSTATE]
    msr     spsr_el2, x2
    mov     x29, x0
    ldp     x0, x1, [x29, #CTXT_REGS + 0 * 8]
    ldp     x2, x3, [x29, #CTXT_REGS + 2 * 8]
    ldp     x4, x5, [x29, #CTXT_REGS + 4 * 8]
    ldp     x6, x7, [x29, #CTXT_REGS + 6 * 8]
    ldp     x8, x9, [x29, #CTXT_REGS + 8 * 8]
    ldp     x10, x11, [x29, #CTXT_REGS + 10 * 8]
    ldp     x12, x13, [x29, #CTXT_REGS + 12 * 8]
    ldp     x14, x15, [x29, #CTXT_REGS + 14 * 8]
    ldp     x16, x17, [x29, #CTXT_REGS + 16 * 8]
    ldp     x18, x19, [x29, #CTXT_REGS + 18 * 8]
    ldp     x20, x21, [x29, #CTXT_REGS + 20 * 8]
    ldp     x22, x23, [x29, #CTXT_REGS + 22 * 8]
    ldp     x24, x25, [x29, #CTXT_REGS + 24 * 8]
    ldp     x26, x27, [x29, #CTXT_REGS + 26 * 8]
    ldr     x28, [x29, #CTXT_REGS + 28 * 8]
    ldp     x29, x30, [x29, #CTXT_REGS + 29 * 8]
    eret
    .size   __guest_enter, . - __guest_enter

// x0 = exit code; the guest's x0, x1 on the stack; every other register still the guest's.
    .global __guest_exit
    .type   __guest_exit, %function
__guest_exit:
    phase   gp, save                    // the guest's registers, PC and PSTATE out
    mrs     x1, tpidr_el2
    ldr     x1, [x1, #PCPU_VCPU]
    stp     x2, x3, [x1, #CTXT_REGS + 2 * 8]
    stp     x4, x5, [x1, #CTXT_REGS + 4 * 8]
    stp     x6, x7, [x1, #CTXT_REGS + 6 * 8]
    stp     x8, x9, [x1, #CTXT_REGS + 8 * 8]
    stp     x10, x11, [x1, #CTXT_REGS + 10 * 8]
    stp     x12, x13, [x1, #CTXT_REGS + 12 * 8]
    stp     x14, x15, [x1, #CTXT_REGS + 14 * 8]
    stp     x16, x17, [x1, #CTXT_REGS + 16 * 8]
    stp     x18, x19, [x1, #CTXT_REGS + 18 * 8]
    stp     x20, x21, [x1, #CTXT_REGS + 20 * 8]
    stp     x22, x23, [x1, #CTXT_REGS + 22 * 8]
    stp     x24, x25, [x1, #CTXT_REGS + 24 * 8]
    stp     x26, x27, [x1, #CTXT_REGS + 26 * 8]
    stp     x28, x29, [x1, #CTXT_REGS + 28 * 8]
    str     x30, [x1, #CTXT_REGS + 30 * 8]
    ldp     x2, x3, [sp], #16           // the guest's x0, x1
    stp     x2, x3, [x1, #CTXT_REGS + 0 * 8]
    mrs     x2, elr_el2
    str     x2, [x1, #CTXT_PC]
    mrs     x2, spsr_el2
    str     x2, [x1, #CTXT_PSTATE]
    phase   dispatch                    // the syndrome: what the exit was
    mrs     x2, esr_el2
    str     x2, [x1, #VCPU_FAULT_ESR]
    mrs     x2, far_el2
    str     x2, [x1, #VCPU_FAULT_FAR]
    mrs     x2, hpfar_el2
    str     x2, [x1, #VCPU_FAULT_HPFAR]
    phase   gp, restore                 // EL2's own registers back
    mrs     x2, tpidr_el2
    add     x2, x2, #PCPU_HYP_REGS
    ldp     x18, x19, [x2, #0]
    ldp     x20, x21, [x2, #16]
    ldp     x22, x23, [x2, #32]
    ldp     x24, x25, [x2, #48]
    ldp     x26, x27, [x2, #64]
    ldp     x28, x29, [x2, #80]
    ldp     x30, x3, [x2, #96]
    mov     sp, x3
    ret                                 // from __guest_enter, x0 = exit code
    .size   __guest_exit, . - __guest_exit

// FP/SIMD state of a context: Q0..Q31, FPSR, FPCR. The caller has CPTR_EL2.TFP clear.
    .global __fpsimd_save
    .type   __fpsimd_save, %function
__fpsimd_save:                          // x0 = CTXT
    phase   fp, save
    add     x1, x0, #CTXT_VREGS
    stp     q0, q1, [x1, #0]
    stp     q2, q3, [x1, #32]
    stp     q4, q5, [x1, #64]
    stp     q6, q7, [x1, #96]
    stp     q8, q9, [x1, #128]
    stp     q10, q11, [x1, #160]
    stp     q12, q13, [x1, #192]
    stp     q14, q15, [x1, #224]
    stp     q16, q17, [x1, #256]
    stp     q18, q19, [x1, #288]
    stp     q20, q21, [x1, #320]
    stp     q22, q23, [x1, #352]
    stp     q24, q25, [x1, #384]
    stp     q26, q27, [x1, #416]
    stp     q28, q29, [x1, #448]
    stp     q30, q31, [x1, #480]
    mrs     x2, fpsr
    str     x2, [x0, #CTXT_FPSR]
    mrs     x2, fpcr
    str     x2, [x0, #CTXT_FPCR]
    ret
    .size   __fpsimd_save, . - __fpsimd_save

    .global __fpsimd_restore
    .type   __fpsimd_restore, %function
__fpsimd_restore:                       // x0 = CTXT
    phase   fp, restore
    add     x1, x0, #CTXT_VREGS
    ldp     q0, q1, [x1, #0]
    ldp     q2, q3, [x1, #32]
    ldp     q4, q5, [x1, #64]
    ldp     q6, q7, [x1, #96]
    ldp     q8, q9, [x1, #128]
    ldp     q10, q11, [x1, #160]
    ldp     q12, q13, [x1, #192]
    ldp     q14, q15, [x1, #224]
    ldp     q16, q17, [x1, #256]
    ldp     q18, q19, [x1, #288]
    ldp     q20, q21, [x1, #320]
    ldp     q22, q23, [x1, #352]
    ldp     q24, q25, [x1, #384]
    ldp     q26, q27, [x1, #416]
    ldp     q28, q29, [x1, #448]
    ldp     q30, q31, [x1, #480]
    ldr     x2, [x0, #CTXT_FPSR]
    msr     fpsr, x2
    ldr     x2, [x0, #CTXT_FPCR]
    msr     fpcr, x2
    ret
    .size   __fpsimd_restore, . - __fpsimd_restore

// ---------------------------------------------------------------------------------------------
// Self-hosted debug registers of a vCPU (KVM: arch/arm64/kvm/debug.c, hyp/debug-sr.h).
//
// A vCPU runs with MDCR_EL2.TDA/TDOSA/TDRA set (MDCR_GUEST) until it first touches a debug
// register: that access traps (host/sysreg.S: debug_trap), sets VCPU_DBG_DIRTY to
// DBG_TRAPPED and is run again; while DBG_DIRTY is not 0 the vCPU's debug registers are loaded
// on entry (__debug_load) and saved on exit (__debug_put) around its runs, untrapped, and
// after a run DBG_TRAPPED becomes DBG_LOADED (debug_ran). __debug_put leaves the PE's
// breakpoints, watchpoints and MDSCR_EL1 disabled, so nothing of one vCPU's debug state can
// fire in the hypervisor or another VM; it clears DBG_LOADED unless the vCPU has debug
// exceptions enabled (MDSCR_EL1.KDE or MDE, as KVM's kvm_arm_setup_debug, or SS: KVM switches
// MDSCR_EL1 with every run, and software step at EL0 needs nothing else, no register access
// that would trap and load it again): a guest that only looked at a register traps again on
// its next use, one whose breakpoints are armed or that steps keeps them on every entry. (DBG_TRAPPED survives a put: the direct build may put a vCPU away
// before it ran the instruction that trapped.) The number of breakpoints and watchpoints is the PE's
// (ID_AA64DFR0_EL1.BRPs/WRPs + 1, at most 16 each).
//
// Split build: around every run (__kvm_vcpu_run). Direct build: with the other EL1 state
// (vcpu_load/vcpu_put); the trap handler, at EL2, loads them itself. DBG_LOADED and DBG_TRAPPED
// come from armvirt/hv/abi.py.

// debug_ran vcpu, tmp: right after a run of the vCPU (its trapped instruction has run again)
.macro debug_ran vcpu, tmp
    ldr     \tmp, [\vcpu, #VCPU_DBG_DIRTY]
    cmp     \tmp, #DBG_TRAPPED
    b.ne    7f
    mov     \tmp, #DBG_LOADED
    str     \tmp, [\vcpu, #VCPU_DBG_DIRTY]
7:
.endm

.macro dbg_pair op, n, vr, cr, vreg, creg
    cmp     x2, #\n
    b.ls    8f
.ifc \op, save
    mrs     x3, \vreg
    str     x3, [x0, #\vr + \n * 8]
    mrs     x3, \creg
    str     x3, [x0, #\cr + \n * 8]
    msr     \creg, xzr                  // off for whoever runs next
.else
    ldr     x3, [x0, #\vr + \n * 8]
    msr     \vreg, x3
    ldr     x3, [x0, #\cr + \n * 8]
    msr     \creg, x3
.endif
.endm

.macro dbg_bps op
    mrs     x2, id_aa64dfr0_el1
    ubfx    x2, x2, #12, #4             // BRPs - 1
    add     x2, x2, #1
    dbg_pair \op, 0, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr0_el1, dbgbcr0_el1
    dbg_pair \op, 1, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr1_el1, dbgbcr1_el1
    dbg_pair \op, 2, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr2_el1, dbgbcr2_el1
    dbg_pair \op, 3, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr3_el1, dbgbcr3_el1
    dbg_pair \op, 4, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr4_el1, dbgbcr4_el1
    dbg_pair \op, 5, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr5_el1, dbgbcr5_el1
    dbg_pair \op, 6, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr6_el1, dbgbcr6_el1
    dbg_pair \op, 7, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr7_el1, dbgbcr7_el1
    dbg_pair \op, 8, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr8_el1, dbgbcr8_el1
    dbg_pair \op, 9, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr9_el1, dbgbcr9_el1
    dbg_pair \op, 10, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr10_el1, dbgbcr10_el1
    dbg_pair \op, 11, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr11_el1, dbgbcr11_el1
    dbg_pair \op, 12, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr12_el1, dbgbcr12_el1
    dbg_pair \op, 13, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr13_el1, dbgbcr13_el1
    dbg_pair \op, 14, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr14_el1, dbgbcr14_el1
    dbg_pair \op, 15, VCPU_DBG_BVR, VCPU_DBG_BCR, dbgbvr15_el1, dbgbcr15_el1
8:
.endm

.macro dbg_wps op
    mrs     x2, id_aa64dfr0_el1
    ubfx    x2, x2, #20, #4             // WRPs - 1
    add     x2, x2, #1
    dbg_pair \op, 0, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr0_el1, dbgwcr0_el1
    dbg_pair \op, 1, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr1_el1, dbgwcr1_el1
    dbg_pair \op, 2, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr2_el1, dbgwcr2_el1
    dbg_pair \op, 3, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr3_el1, dbgwcr3_el1
    dbg_pair \op, 4, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr4_el1, dbgwcr4_el1
    dbg_pair \op, 5, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr5_el1, dbgwcr5_el1
    dbg_pair \op, 6, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr6_el1, dbgwcr6_el1
    dbg_pair \op, 7, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr7_el1, dbgwcr7_el1
    dbg_pair \op, 8, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr8_el1, dbgwcr8_el1
    dbg_pair \op, 9, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr9_el1, dbgwcr9_el1
    dbg_pair \op, 10, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr10_el1, dbgwcr10_el1
    dbg_pair \op, 11, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr11_el1, dbgwcr11_el1
    dbg_pair \op, 12, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr12_el1, dbgwcr12_el1
    dbg_pair \op, 13, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr13_el1, dbgwcr13_el1
    dbg_pair \op, 14, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr14_el1, dbgwcr14_el1
    dbg_pair \op, 15, VCPU_DBG_WVR, VCPU_DBG_WCR, dbgwvr15_el1, dbgwcr15_el1
8:
.endm

// __debug_load(x0 = vCPU): if DBG_DIRTY, its debug registers into the PE. Clobbers x1..x3.
    .global __debug_load
    .type   __debug_load, %function
__debug_load:
    phase   debug, restore
    ldr     x1, [x0, #VCPU_DBG_DIRTY]
    cbz     x1, 9f
    dbg_bps load
    dbg_wps load
    ldr     x1, [x0, #VCPU_OSDLR]
    msr     osdlr_el1, x1
    ldr     x1, [x0, #VCPU_MDCCINT]
    msr     mdccint_el1, x1
    mov     x1, #0xFF
    msr     dbgclaimclr_el1, x1
    ldr     x1, [x0, #VCPU_DBGCLAIM]
    msr     dbgclaimset_el1, x1
    ldr     x1, [x0, #VCPU_OSLK]
    msr     oslar_el1, x1
    ldr     x1, [x0, #VCPU_MDSCR]
    msr     mdscr_el1, x1
    isb
9:  ret
    .size   __debug_load, . - __debug_load

// __debug_put(x0 = vCPU): if DBG_DIRTY, its debug registers out of the PE and the PE's
// breakpoints, watchpoints and MDSCR_EL1 off; DBG_LOADED stays only while the vCPU has debug
// exceptions enabled (MDSCR_EL1.KDE or MDE). Clobbers x1..x3.
    .global __debug_put
    .type   __debug_put, %function
__debug_put:
    phase   debug, save
    ldr     x2, [x0, #VCPU_DBG_DIRTY]
    cbz     x2, 9f
    mrs     x1, mdscr_el1
    str     x1, [x0, #VCPU_MDSCR]
    msr     mdscr_el1, xzr
    cmp     x2, #DBG_TRAPPED
    b.eq    1f
    mov     x2, #(MDSCR_KDE | MDSCR_MDE | MDSCR_SS)
    tst     x1, x2
    cset    x1, ne                      // DBG_LOADED while debug exceptions are enabled
    str     x1, [x0, #VCPU_DBG_DIRTY]
1:
    mrs     x1, oslsr_el1
    ubfx    x1, x1, #1, #1              // OSLK
    str     x1, [x0, #VCPU_OSLK]
    mrs     x1, osdlr_el1
    str     x1, [x0, #VCPU_OSDLR]
    mrs     x1, mdccint_el1
    str     x1, [x0, #VCPU_MDCCINT]
    mrs     x1, dbgclaimclr_el1
    str     x1, [x0, #VCPU_DBGCLAIM]
    dbg_bps save
    dbg_wps save
    isb
9:  ret
    .size   __debug_put, . - __debug_put
