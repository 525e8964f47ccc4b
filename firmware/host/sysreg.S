// EC 0x18: trapped MSR, MRS and SYS instructions (KVM: arch/arm64/kvm/sys_regs.c).
//
// The ISS names the register exactly as the instruction does (Arm ARM, "ISS encoding for an
// exception from MSR, MRS, or System instruction execution"): Op0, Op2, Op1, CRn, Rt, CRm and
// Direction (1 = read), whose positions are ESR_SYSREG_<FIELD>_SHIFT/_WIDTH of hv_abi.h
// (generated from armvirt/cpu/syndrome.py).
// What the guests of this hypervisor trap, and what they get:
//   debug registers (MDCR_EL2.TDA/TDOSA/TDRA)   the first use loads the vCPU's own and
//                                               untraps them; the instruction runs again
//                                               (debug_trap; hyp/switch.S: lazy switch)
//   CNTP_TVAL/CTL/CVAL_EL0 (CNTHCTL_EL2.EL1PCEN = 0)  the vCPU's emulated EL1 physical timer
//                                               (host/ptimer.S)
//   ACTLR_EL1 (HCR_EL2.TACR)                    read as zero, writes ignored
//   DC ISW/CSW/CISW (HCR_EL2.TSW)               done (nothing to do: the emulated machine
//                                               keeps no data in caches)
//   ICC_SGI1R_EL1, ICC_SGI0R_EL1, ICC_ASGI1R_EL1 (trapped by the GIC while HCR_EL2.IMO/FMO
//                                               are set): virtual SGIs to the VM's vCPUs
//                                               (host/vgic.S: vgic_send_sgi); Group 1 for
//                                               SGI1R, Group 0 for the others (one Security
//                                               state: ASGI1R's Group is taken as Group 0,
//                                               as the board does)
//   anything else (implementation-defined registers under HCR_EL2.TIDCP, ...): UNDEFINED is
//   injected into the guest, with a line on the console.
// To emulate another register, add its key to sysreg_table with a handler kind: the key of a
// register or System instruction is the ISS of an access to it without Rt and Direction
// (ISS & SYSREG_ISS_KEY_MASK), SYSREG_ISS_KEY_<NAME> in hv_abi.h (generated from the core's
// armvirt/cpu/sysreg_table.py and armvirt/sysinsn_table.py: SYSREG_ISS_KEY_DC_ISW for DC ISW).
#define SR_RAZ_WI       1
#define SR_OSLSR        2
#define SR_NOP          3
#define SR_SGI1         4
#define SR_SGI0         5
#define SR_PTIMER       6               // CNTP_TVAL/CTL/CVAL_EL0: host/ptimer.S

    .global handle_sysreg
    .type   handle_sysreg, %function
handle_sysreg:
    enter
    mov     x19, x0
    mov     x1, #STAT_SYSREG
    bl      count_exit
    ldr     x20, [x19, #VCPU_FAULT_ESR]
    ldr     x1, =SYSREG_ISS_KEY_MASK
    and     x1, x20, x1
    ubfx    x2, x20, #ESR_SYSREG_OP0_SHIFT, #ESR_SYSREG_OP0_WIDTH
    mov     x3, #SR_RAZ_WI              // every debug register (Op0 = 2) but OSLSR_EL1
    cmp     x2, #2
    b.ne    1f
    ldr     x4, [x19, #VCPU_DBG_DIRTY]  // the first use: its own registers, untrapped
    cbz     x4, debug_trap
    ldr     x4, =SYSREG_ISS_KEY_OSLSR_EL1
    cmp     x1, x4
    b.ne    4f
    mov     x3, #SR_OSLSR
    b       4f
1:  adr     x4, sysreg_table
2:  ldp     w5, w6, [x4], #8
    cbz     w6, unknown_sysreg
    cmp     w5, w1
    b.ne    2b
    mov     x3, x6
4:  cmp     x3, #SR_PTIMER
    b.eq    ptimer_trap
    cmp     x3, #SR_SGI1
    b.hs    sgi_write
    mov     x21, #0                     // the value a read returns
    cmp     x3, #SR_OSLSR
    b.ne    5f
    mov     x21, #0x8                   // OSLSR_EL1.OSLM = 0b10: OS lock implemented; OSLK = 0
5:  tbz     x20, #ESR_SYSREG_DIRECTION_SHIFT, 6f  // a read: Rt = value
    ubfx    x9, x20, #ESR_SYSREG_RT_SHIFT, #ESR_SYSREG_RT_WIDTH
    ctxt_set_reg x19, x9, x21
6:  mov     x0, x19
    bl      skip_instruction
    leave

sgi_write:                              // x3 = SR_SGI1 or SR_SGI0
    tbnz    x20, #ESR_SYSREG_DIRECTION_SHIFT, unknown_sysreg  // write-only registers
    cmp     x3, #SR_SGI1
    cset    x2, eq                      // the group
    ubfx    x9, x20, #ESR_SYSREG_RT_SHIFT, #ESR_SYSREG_RT_WIDTH
    ctxt_get_reg x1, x19, x9
    mov     x0, x19
    bl      vgic_send_sgi
    mov     x0, x19
    bl      skip_instruction
    leave

ptimer_trap:
    mov     x0, x19
    mov     x1, x20
    bl      ptimer_access               // host/ptimer.S (completes the instruction)
    leave

// debug_trap: a debug register trapped (MDCR_EL2.TDA/TDOSA/TDRA) while the vCPU's own are not
// in the PE: from now on they are (hyp/switch.S: __debug_load), and the instruction runs
// again, untrapped. (Should it trap again all the same, the register is read as zero and
// written to no effect, OSLSR_EL1 as "OS lock implemented, unlocked": the code above.)
debug_trap:
    mov     x1, #DBG_TRAPPED
    str     x1, [x19, #VCPU_DBG_DIRTY]
#ifdef HV_DIRECT
    this_pcpu x1                        // the direct build: it runs with them at once
    ldr     x1, [x1, #PCPU_LOADED]
    cmp     x1, x19
    b.ne    1f
    mov     x0, x19
    bl      __debug_load
    ldr     x1, =(MDCR_GUEST & ~MDCR_TDEBUG)
    msr     mdcr_el2, x1
    isb
1:
#endif
    leave                               // not skipped: the guest runs it again

unknown_sysreg:
    bl      log_begin
    mov     x0, x19
    bl      log_vcpu
    tbz     x20, #ESR_SYSREG_DIRECTION_SHIFT, 1f
    log_s   ": MRS of S"
    b       2f
1:  log_s   ": MSR/SYS to S"
2:  ubfx    x0, x20, #ESR_SYSREG_OP0_SHIFT, #ESR_SYSREG_OP0_WIDTH
    bl      log_dec
    log_s   "_"
    ubfx    x0, x20, #ESR_SYSREG_OP1_SHIFT, #ESR_SYSREG_OP1_WIDTH
    bl      log_dec
    log_s   "_C"
    ubfx    x0, x20, #ESR_SYSREG_CRN_SHIFT, #ESR_SYSREG_CRN_WIDTH
    bl      log_dec
    log_s   "_C"
    ubfx    x0, x20, #ESR_SYSREG_CRM_SHIFT, #ESR_SYSREG_CRM_WIDTH
    bl      log_dec
    log_s   "_"
    ubfx    x0, x20, #ESR_SYSREG_OP2_SHIFT, #ESR_SYSREG_OP2_WIDTH
    bl      log_dec
    log_s   " trapped at pc 0x"
    ldr     x0, [x19, #CTXT_PC]
    bl      log_hex
    log_s   ": UNDEFINED injected"
    bl      log_end
    mov     x0, x19
    bl      inject_undef
    leave

    .balign 4
sysreg_table:                           // {ISS key, kind}, ended by kind 0
    .word   SYSREG_ISS_KEY_ACTLR_EL1, SR_RAZ_WI
    .word   SYSREG_ISS_KEY_DC_ISW, SR_NOP
    .word   SYSREG_ISS_KEY_DC_CSW, SR_NOP
    .word   SYSREG_ISS_KEY_DC_CISW, SR_NOP
    .word   SYSREG_ISS_KEY_ICC_SGI1R_EL1, SR_SGI1
    .word   SYSREG_ISS_KEY_ICC_SGI0R_EL1, SR_SGI0
    .word   SYSREG_ISS_KEY_ICC_ASGI1R_EL1, SR_SGI0
    .word   SYSREG_ISS_KEY_CNTP_TVAL_EL0, SR_PTIMER
    .word   SYSREG_ISS_KEY_CNTP_CTL_EL0, SR_PTIMER
    .word   SYSREG_ISS_KEY_CNTP_CVAL_EL0, SR_PTIMER
    .word   0, 0
    .size   handle_sysreg, . - handle_sysreg
