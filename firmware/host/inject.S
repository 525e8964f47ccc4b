// Exceptions the hypervisor injects into a guest (KVM: arch/arm64/kvm/inject_fault.c,
// enter_exception64): what the PE would do if the exception were taken to EL1 directly —
// ELR_EL1 = the guest's PC, SPSR_EL1 = its PSTATE, ESR_EL1 (and FAR_EL1 for aborts), then the
// PC goes to VBAR_EL1 plus the offset for where the guest was (EL1 with SP_EL0: 0x000, EL1
// with SP_EL1: 0x200, EL0: 0x400), in EL1h with DAIF masked (and PSTATE.PAN set if
// SCTLR_EL1.SPAN = 0, Armv8.1-PAN).

// inject_undef(x0 = vCPU): an Unknown-reason exception (EC 0x00), as an UNDEFINED instruction.
    .global inject_undef
    .type   inject_undef, %function
inject_undef:
    phase   handler
    mov     x1, #ESR_IL
    mov     x2, #-1                     // no FAR
    b       enter_exception64
    .size   inject_undef, . - inject_undef

// inject_dabt(x0 = vCPU): a synchronous external abort on the data access; FAR = FAR_EL2.
    .global inject_dabt
    .type   inject_dabt, %function
inject_dabt:
    mov     x1, #EC_DABT_SAME
    b       1f
    .size   inject_dabt, . - inject_dabt
// inject_iabt(x0 = vCPU): the same for an instruction fetch.
    .global inject_iabt
    .type   inject_iabt, %function
inject_iabt:
    mov     x1, #EC_IABT_SAME
1:  ldr     x2, [x0, #CTXT_PSTATE]      // from EL0: the "lower EL" class (EC - 1)
    tst     x2, #SPSR_M_MASK
    b.ne    2f
    sub     x1, x1, #1
2:  lsl     x1, x1, #26
    ldr     x2, [x0, #VCPU_FAULT_ESR]
    and     x2, x2, #ESR_IL
    orr     x1, x1, x2
    orr     x1, x1, #FSC_EXTABT
    ldr     x2, [x0, #VCPU_FAULT_FAR]
    // fall through

// enter_exception64(x0 = vCPU, x1 = ESR_EL1, x2 = FAR_EL1 or -1 for none)
enter_exception64:
    enter
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    bl      vcpu_put                    // its EL1 registers in memory (direct build)
    ldr     x3, [x19, #CTXT_PSTATE]
    ldr     x4, [x19, #CTXT_PC]
    str     x4, [x19, #CTXT_SYS_ELR_EL1]
    str     x3, [x19, #CTXT_SYS_SPSR_EL1]
    str     x20, [x19, #CTXT_SYS_ESR_EL1]
    cmn     x21, #1
    b.eq    1f
    str     x21, [x19, #CTXT_SYS_FAR_EL1]
1:  and     x5, x3, #SPSR_M_MASK
    mov     x6, #0x400                  // from EL0
    cmp     x5, #SPSR_EL1T
    b.ne    2f
    mov     x6, #0x000
2:  cmp     x5, #SPSR_EL1H
    b.ne    3f
    mov     x6, #0x200
3:  ldr     x4, [x19, #CTXT_SYS_VBAR_EL1]
    add     x4, x4, x6
    str     x4, [x19, #CTXT_PC]
    mov     x4, #SPSR_EL1H_MASKED
    ldr     x5, [x19, #CTXT_SYS_SCTLR_EL1]
    tbnz    x5, #23, 4f                 // SCTLR_EL1.SPAN = 0: PSTATE.PAN = 1
    orr     x4, x4, #(1 << 22)
4:  str     x4, [x19, #CTXT_PSTATE]
    leave
    .size   inject_iabt, . - inject_iabt
