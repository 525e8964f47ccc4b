// handle_exit: what to do with a vCPU that left the guest, by exit code and ESR_EL2.EC
// (KVM: handle_exit() and its arm_exit_handlers[] table, arch/arm64/kvm/handle_exit.c).
//
// To handle a new kind of exit: add its EC to exit_handlers below (a table indexed by EC,
// 0 = not handled) and write the handler: x0 = vCPU, the syndrome in VCPU_FAULT_ESR/FAR/HPFAR,
// the guest's registers in its CTXT. A handler that completes a trapped instruction moves
// CTXT_PC past it (skip_instruction) unless the exception already returns past it (HVC).
// Exits nobody handles stop the VM with a report (unhandled_exit): never the hypervisor.

// handle_exit(x0 = vCPU, x1 = exit code)
    .global handle_exit
    .type   handle_exit, %function
handle_exit:
    phase   dispatch
    enter
    mov     x19, x0
    ldr     x2, [x19, #VCPU_EXITS]
    add     x2, x2, #1
    str     x2, [x19, #VCPU_EXITS]
    cmp     x1, #EXC_IRQ                // a physical interrupt ended the run: acknowledge it
    b.eq    4f                          //   (host/vgic.S and lib/gic.S do the rest)
    cmp     x1, #EXC_FIQ
    b.eq    4f
    ldr     x2, [x19, #VCPU_VM]         // its VM was stopped (by another vCPU) while this one
    ldr     x2, [x2, #VM_STATE]         //   ran: the exit no longer matters
    cmp     x2, #VM_STATE_RUNNING
    b.ne    3f
    cmp     x1, #EXC_SYNC
    b.eq    1f
    b       2f                          // SError
4:  mov     x1, #STAT_IRQ
    bl      count_exit
    bl      irq_drain
    leave
1:  ldr     x2, [x19, #VCPU_FAULT_ESR]
    lsr     x2, x2, #26                 // EC
    adr     x3, exit_handlers
    ldr     x3, [x3, x2, lsl #3]
    cbz     x3, 2f
    mov     x0, x19
    blr     x3
    leave
2:  mov     x0, x19
    mov     x1, #STAT_OTHER
    bl      count_exit
    mov     x0, x19
    bl      unhandled_exit
3:  leave

    .balign 8
exit_handlers:                          // indexed by ESR_EL2.EC (6 bits); 0 = unhandled
    exit_table_start
    exit_entry EC_WFX, handle_wfx                   // WFI/WFE (HCR_EL2.TWI/TWE)
    exit_entry EC_HVC64, handle_hvc
    exit_entry EC_SMC64, handle_smc                 // trapped by HCR_EL2.TSC
    exit_entry EC_SYSREG, handle_sysreg             // MSR/MRS/SYS (host/sysreg.S)
    exit_entry EC_IABT_LOWER, handle_iabt           // stage 2
    exit_entry EC_DABT_LOWER, handle_dabt           // stage 2
    exit_table_end exit_handlers
    .size   handle_exit, . - handle_exit
    // EC 0x07 (FP/SIMD access) never gets here: EL2 handles it (fixup_guest_exit).

// count_exit(x0 = vCPU, x1 = STAT_*)
    .global count_exit
    .type   count_exit, %function
count_exit:
    phase   handler
    add     x2, x0, #VCPU_STAT
    ldr     x3, [x2, x1, lsl #3]
    add     x3, x3, #1
    str     x3, [x2, x1, lsl #3]
    ret
    .size   count_exit, . - count_exit

// skip_instruction(x0 = vCPU): the trapped instruction is done; the guest resumes after it.
// Done, it advances the software step state machine as the PE would have (Arm ARM SSAdvance):
// PSTATE.SS = 0, so a guest stepping it takes its Software Step exception right after it
// (KVM: kvm_incr_pc clears DBG_SPSR_SS). The trap left SPSR_EL2.SS = 1 as for any instruction
// that did not complete.
    .global skip_instruction
    .type   skip_instruction, %function
skip_instruction:
    ldr     x1, [x0, #CTXT_PC]
    add     x1, x1, #4
    str     x1, [x0, #CTXT_PC]
    ldr     x1, [x0, #CTXT_PSTATE]
    and     x1, x1, #~SPSR_SS
    str     x1, [x0, #CTXT_PSTATE]
    ret

// EC 0x01: WFI or WFE (HCR_EL2.TWI/TWE). ISS bit 0: 1 for WFE.
handle_wfx:
    enter
    mov     x19, x0
    ldr     x20, [x19, #VCPU_FAULT_ESR]
    bl      skip_instruction
    mov     x0, x19
    tbnz    x20, #0, 1f
    mov     x1, #STAT_WFI               // WFI: block until an interrupt is pending for it
    bl      count_exit                  // (the PE trapped it: nothing was pending in the list
    mov     x0, x19                     // registers, but an interrupt may wait in the vGIC)
    bl      vcpu_block
    leave
1:  mov     x1, #STAT_WFE               // WFE: a yield; the run loop picks the next vCPU here
    bl      count_exit
    leave

// EC 0x16: HVC from the guest. ISS = the immediate; SMCCC calls use HVC #0.
handle_hvc:
    enter
    mov     x19, x0
    mov     x1, #STAT_HVC
    bl      count_exit
    ldr     x1, [x19, #VCPU_FAULT_ESR]
    tst     x1, #0xFFFF
    b.eq    1f
    mov     x1, #SMCCC_NOT_SUPPORTED    // not an SMCCC call: say so in x0
    str     x1, [x19, #CTXT_REGS]
    leave
1:  mov     x0, x19
    bl      handle_smccc                // host/psci.S
    leave

// EC 0x17: SMC trapped by HCR_EL2.TSC (the SMC conduit of guests built for EL3 firmware).
// The preferred return address of the trap is the SMC itself: complete it by hand.
handle_smc:
    enter
    mov     x19, x0
    mov     x1, #STAT_SMC
    bl      count_exit
    mov     x0, x19
    bl      skip_instruction
    ldr     x1, [x19, #VCPU_FAULT_ESR]
    tst     x1, #0xFFFF
    b.eq    1f
    mov     x1, #SMCCC_NOT_SUPPORTED
    str     x1, [x19, #CTXT_REGS]
    leave
1:  mov     x0, x19
    bl      handle_smccc
    leave

// EC 0x24/0x20: stage-2 aborts (host/mmio.S decides between device emulation and a fault).
handle_dabt:
    b       mmio_or_abort
handle_iabt:
    enter
    mov     x19, x0
    mov     x1, #STAT_IABT
    bl      count_exit
    mov     x0, x19
    mov     x1, #0
    bl      report_fault                // "instruction fetch from IPA ..."
    mov     x0, x19
    bl      inject_iabt
    leave
    .size   skip_instruction, . - skip_instruction

// unhandled_exit(x0 = vCPU): report the exit and stop its VM (never the hypervisor).
    .global unhandled_exit
    .type   unhandled_exit, %function
unhandled_exit:
    enter
    mov     x19, x0
    bl      log_begin
    mov     x0, x19
    bl      log_vcpu
    log_s   ": unhandled exit, ESR_EL2=0x"
    ldr     x0, [x19, #VCPU_FAULT_ESR]
    bl      log_hex
    log_s   " (EC 0x"
    ldr     x0, [x19, #VCPU_FAULT_ESR]
    lsr     x0, x0, #26
    bl      log_hex
    log_s   ") at pc 0x"
    ldr     x0, [x19, #CTXT_PC]
    bl      log_hex
    log_s   "; stopping the VM"
    bl      log_end
    ldr     x0, [x19, #VCPU_VM]
    ldr     x1, [x19, #VCPU_FAULT_ESR]
    str     x1, [x0, #VM_ESR]
    ldr     x1, [x19, #CTXT_PC]
    str     x1, [x0, #VM_ELR]
    ldr     x1, [x19, #VCPU_FAULT_FAR]
    str     x1, [x0, #VM_FAR]
    mov     x1, #VM_STATE_CRASHED
    bl      vm_stop
    leave
    .size   unhandled_exit, . - unhandled_exit
