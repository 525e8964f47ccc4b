// Boot: every physical PE enters _start at EL2 (MMU off, DAIF masked), as on a board whose
// firmware hands all cores to the hypervisor. PE 0 checks the boot manifest that the Python
// loader put at HV_MANIFEST, creates the VMs (stage-2 tables, vCPUs) and then releases the
// other PEs, which wait parked in WFE until then. Every PE then configures its EL2 and enters
// the host part: at EL1 through an ERET in the split build, by a branch at EL2 in the direct one.

#define STACK_SHIFT 13                  // 8 KiB stacks: one at EL2 and one for the host, per PE

    .global _start
    .type   _start, %function
_start:
    mrs     x19, mpidr_el1
    and     x19, x19, #0xff             // Aff0: the PE number on this board
    cmp     x19, #MAX_PES
    b.hs    park_forever
    ldr     x1, =pcpus
    mov     x2, #PCPU_SIZE
    madd    x20, x19, x2, x1            // x20 = this PE's PCPU record, for good
    add     x2, x19, #1
    lsl     x2, x2, #STACK_SHIFT
    ldr     x1, =el2_stacks
    add     x1, x1, x2
    mov     sp, x1                      // SP_EL2
    str     x1, [x20, #PCPU_EL2_SP]
    ldr     x1, =host_stacks
    add     x1, x1, x2
    str     x1, [x20, #PCPU_HOST_SP]
    str     x19, [x20, #PCPU_INDEX]
    msr     tpidr_el2, x20
    ldr     x1, =__guest_vectors        // any EL2 exception from here on is reported (hyp_panic)
    msr     vbar_el2, x1
    isb
    cbnz    x19, secondary_wait
    bl      hv_init                     // PE 0: manifest, VMs
    bl      release_secondaries
    b       cpu_init

secondary_wait:                         // parked until PE 0 sets our RELEASE word (and SEVs)
    ldr     x1, [x20, #PCPU_RELEASE]
    cbnz    x1, cpu_init
    wfe
    b       secondary_wait

park_forever:                           // a PE the hypervisor has no room for
    wfe
    b       park_forever

// The EL2 configuration of a PE while its host part runs, then into the host part. x20 = PCPU.
cpu_init:
    mov     x0, #HCR_HOST
    msr     hcr_el2, x0
    ldr     x0, =VTCR_VALUE
    msr     vtcr_el2, x0
    msr     vttbr_el2, xzr
    mov     x0, #(CPTR_RES1 | CPTR_TFP) // no context owns the FP/SIMD registers yet
    msr     cptr_el2, x0
    mov     x0, #MDCR_HOST
    msr     mdcr_el2, x0
    mov     x0, #CNTHCTL_HOST
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    tlbi    alle1
    dsb     sy
    isb
    mov     x0, x19
    bl      gic_cpu_init                // lib/gic.S: this PE's redistributor, CPU interface
#ifdef HV_SPLIT
    ldr     x0, =__host_vectors
    msr     vbar_el2, x0
    // The host part gets its own EL1 context: MMU off, its vectors, its stack, TPIDR = PCPU.
    ldr     x0, =SCTLR_EL1_RESET
    msr     sctlr_el1, x0
    ldr     x0, =__host_el1_vectors
    msr     vbar_el1, x0
    ldr     x0, [x20, #PCPU_HOST_SP]
    msr     sp_el1, x0
    msr     tpidr_el1, x20
    mov     x0, #SPSR_EL1H_MASKED
    msr     spsr_el2, x0
    ldr     x0, =host_main
    msr     elr_el2, x0
    mov     x0, x20
    isb
    eret
#else
    ldr     x0, =__guest_vectors
    msr     vbar_el2, x0
    isb
    mov     x0, x20
    b       host_main
#endif

// PE 0: check the manifest, create every VM, say hello. Stops the machine on a bad manifest.
hv_init:
    enter
    ldr     x19, =HV_MANIFEST
    mov     x0, x19
    bl      manifest_check              // x0 = 0, or a message and x1 = the VM concerned
    cbnz    x0, bad_manifest
    bl      vgic_probe                  // the virtual interface we need, and its size
    cbnz    x0, bad_gic
    bl      gic_dist_init
    mov     x0, #HV_STATE_RUNNING
    str     x0, [x19, #MAN_HV_STATE]
    ldr     x20, [x19, #MAN_NR_VMS]
    mov     x21, #0
1:  cmp     x21, x20
    b.hs    2f
    mov     x0, x21
    bl      vm_create
    add     x21, x21, #1
    b       1b
2:  bl      vpl011_console_init         // host/mmio.S: the console input to its VM
    bl      log_begin
#ifdef HV_SPLIT
    log_s   "armvirt hypervisor (split: exits handled by the host part at EL1), "
#else
    log_s   "armvirt hypervisor (direct: exits handled at EL2), "
#endif
    mov     x0, x20
    bl      log_dec
    log_s   " VM(s) on "
    ldr     x0, [x19, #MAN_NR_PES]
    bl      log_dec
    log_s   " PE(s)"
    bl      log_end
    leave

bad_manifest:                           // x0 = message, x1 = VM index or -1
    mov     x21, x0
    mov     x22, x1
    bl      log_begin
    log_s   "bad boot manifest: "
    mov     x0, x21
    bl      log_str
    tbnz    x22, #63, 1f
    log_s   " (VM "
    mov     x0, x22
    bl      log_dec
    log_s   ")"
1:  bl      log_end
    mov     x0, xzr
    mov     x1, xzr
    mov     x2, xzr
    mov     x3, xzr
    b       hv_stop_machine_panic

bad_gic:                                // x1 = ICH_VTR_EL2
    mov     x21, x1
    bl      log_begin
    log_s   "unsupported GIC: ICH_VTR_EL2 = 0x"
    mov     x0, x21
    bl      log_hex
    log_s   " (the firmware needs PRIbits + 1 = VGIC_PRI_BITS)"
    bl      log_end
    mov     x0, xzr
    mov     x1, xzr
    mov     x2, xzr
    mov     x3, xzr
    b       hv_stop_machine_panic

// vgic_probe() -> x0 = 0 if the GIC's virtual interface is what the firmware handles, with
// vgic_nr_lrs set (ICH_VTR_EL2.ListRegs + 1); else x0 = 1, x1 = ICH_VTR_EL2. Its virtual
// priorities must have VGIC_PRI_BITS bits: one ICH_AP0R/AP1R register each holds them all
// (hyp/vgic-v3-sr.S) and the emulated priority registers keep as many bits.
vgic_probe:
    mrs     x1, ich_vtr_el2
    ubfx    x2, x1, #29, #3             // PRIbits
    cmp     x2, #(VGIC_PRI_BITS - 1)
    b.ne    1f
    and     x2, x1, #0x1F
    add     x2, x2, #1
    ldr     x3, =vgic_nr_lrs
    str     x2, [x3]
    mov     x0, #0
    ret
1:  mov     x0, #1
    ret

// PE 0 starts the others: RELEASE = 1 in their PCPU, then an event to wake them from WFE.
release_secondaries:
    ldr     x0, =HV_MANIFEST
    ldr     x1, [x0, #MAN_NR_PES]
    ldr     x2, =pcpus
    mov     x3, #1
1:  cmp     x3, x1
    b.hs    2f
    mov     x4, #PCPU_SIZE
    madd    x5, x3, x4, x2
    mov     x4, #1
    str     x4, [x5, #PCPU_RELEASE]
    add     x3, x3, #1
    b       1b
2:  dsb     sy
    sev
    ret

// manifest_check(x0 = manifest) -> x0 = 0 if it is sound, else a message (x1 = VM index or -1).
// The Python loader checks the same and refuses first; this is the firmware not trusting its
// input: every VM inside RAM above the hypervisor, no two overlapping, vCPUs pinned to PEs
// that exist, everything within the firmware's tables.
manifest_check:
    mov     x9, x0
    mov     x1, #-1
    ldr     x2, [x9, #MAN_MAGIC]
    ldr     x3, =MANIFEST_MAGIC
    cmp     x2, x3
    b.ne    1f
    ldr     x2, [x9, #MAN_VERSION]
    cmp     x2, #MANIFEST_VERSION
    b.ne    2f
    ldr     x10, [x9, #MAN_NR_VMS]
    sub     x2, x10, #1
    cmp     x2, #MAX_VMS
    b.hs    3f
    ldr     x11, [x9, #MAN_NR_PES]
    sub     x2, x11, #1
    cmp     x2, #MAX_PES
    b.hs    4f
    ldr     x12, [x9, #MAN_RAM_SIZE]
    ldr     x2, =HV_BASE
    add     x12, x12, x2                // x12 = end of RAM
    mov     x13, #0                     // vCPUs so far
    mov     x1, #0                      // VM index
10: cmp     x1, x10
    b.hs    30f
    mov     x2, #VM_SIZE
    madd    x14, x1, x2, x9
    add     x14, x14, #MAN_VMS          // x14 = this VM
    ldr     x2, [x14, #VM_NR_VCPUS]
    sub     x3, x2, #1
    cmp     x3, #MAX_VCPUS_PER_VM
    b.hs    5f
    add     x13, x13, x2
    cmp     x13, #MAX_VCPUS
    b.hi    6f
    mov     x3, #0                      // every vCPU pinned to an existing PE
11: add     x4, x14, #VM_PIN            // PIN: one byte per vCPU
    ldrb    w4, [x4, x3]
    cmp     x4, x11
    b.hs    7f
    add     x3, x3, #1
    cmp     x3, x2
    b.lo    11b
    ldr     x2, [x14, #VM_MEM_SIZE]     // size: 2 MiB multiple, within VM_MEM_MAX
    tst     x2, #(VM_MEM_ALIGN - 1)
    b.ne    8f
    cbz     x2, 8f
    ldr     x3, =VM_MEM_MAX
    cmp     x2, x3
    b.hi    8f
    ldr     x3, [x14, #VM_PA_BASE]      // place: aligned, above the hypervisor, inside RAM
    tst     x3, #(VM_MEM_ALIGN - 1)
    b.ne    9f
    ldr     x4, =VM_MEM_BASE
    cmp     x3, x4
    b.lo    9f
    add     x4, x3, x2
    ldr     x5, [x14, #VM_FLASH_PA]     // a bios VM's flash: right after its RAM, stage 2 on,
    cbz     x5, 16f                     // its device tree's copy no larger than its room
    cmp     x5, x4
    b.ne    9f
    ldr     x6, [x14, #VM_FLAGS]
    tbnz    x6, #0, 9f                  // (VM_F_NO_STAGE2)
    ldr     x6, [x14, #VM_DTB_SIZE]
    ldr     x7, =VM_FLASH_PRIV
    cmp     x6, x7
    b.hi    9f
    ldr     x6, =VM_FLASH_SPAN
    add     x4, x4, x6                  // [x3, x4): its RAM and flash
16: cmp     x4, x12
    b.hi    9f
    mov     x5, #0                      // no overlap with the VMs before it
12: cmp     x5, x1
    b.hs    13f
    mov     x6, #VM_SIZE
    madd    x6, x5, x6, x9
    add     x6, x6, #MAN_VMS
    ldr     x7, [x6, #VM_PA_BASE]
    ldr     x8, [x6, #VM_MEM_SIZE]
    add     x8, x7, x8                  // other: [x7, x8), this: [x3, x4)
    ldr     x15, [x6, #VM_FLASH_PA]
    cbz     x15, 17f
    ldr     x15, =VM_FLASH_SPAN
    add     x8, x8, x15
17:
    cmp     x3, x8
    b.hs    14f
    cmp     x7, x4
    b.lo    15f
14: add     x5, x5, #1
    b       12b
13: add     x1, x1, #1
    b       10b
30: mov     x0, #0
    ret
1:  adr     x0, msg_magic
    ret
2:  adr     x0, msg_version
    ret
3:  adr     x0, msg_nr_vms
    ret
4:  adr     x0, msg_nr_pes
    ret
5:  adr     x0, msg_nr_vcpus
    ret
6:  adr     x0, msg_total_vcpus
    ret
7:  adr     x0, msg_pin
    ret
8:  adr     x0, msg_mem_size
    ret
9:  adr     x0, msg_place
    ret
15: adr     x0, msg_overlap
    ret
msg_magic:       .asciz "no manifest (magic number missing)"
msg_version:     .asciz "unknown version"
msg_nr_vms:      .asciz "number of VMs out of range"
msg_nr_pes:      .asciz "number of PEs out of range"
msg_nr_vcpus:    .asciz "number of vCPUs out of range"
msg_total_vcpus: .asciz "more vCPUs than the hypervisor has room for"
msg_pin:         .asciz "a vCPU is pinned to a PE that does not exist"
msg_mem_size:    .asciz "memory size is not a multiple of 2 MiB up to 4 GiB"
msg_place:       .asciz "memory is not inside RAM above the hypervisor"
msg_overlap:     .asciz "memory overlaps another VM"
    .balign 4

// vm_create(x0 = index): VMID, stage-2 tables, vCPUs, the virtual UART's reset state; vCPU 0
// runnable at the entry point with x0 = the device tree, the others off until PSCI CPU_ON.
vm_create:
    enter
    ldr     x19, =HV_MANIFEST + MAN_VMS
    mov     x1, #VM_SIZE
    madd    x19, x0, x1, x19            // x19 = VM
    str     x0, [x19, #VM_INDEX]
    add     x1, x0, #1
    str     x1, [x19, #VM_VMID]
    mrs     x1, cntpct_el0              // the guest's virtual counter starts at 0
    str     x1, [x19, #VM_CNTVOFF]
    mov     x1, #0x300                  // PL011 reset: UARTCR TXE | RXE
    str     x1, [x19, #VM_UART_REGS]
    mov     x1, #0x12                   // UARTIFLS reset
    str     x1, [x19, #VM_UART_REGS + 4 * 8]
    mov     x0, x19                     // its virtual GIC's distributor knows its VM
    bl      vm_vgicd
    str     x19, [x0, #VGICD_VM]
    ldr     x1, [x19, #VM_FLAGS]
    tbnz    x1, #0, 1f                  // VM_F_NO_STAGE2
    mov     x0, x19
    bl      s2_build
1:  ldr     x2, =nr_vcpus_total         // its vCPUs: the next free VCPU records
    ldr     x3, [x2]
    ldr     x4, =vcpus
    mov     x5, #VCPU_SIZE
    madd    x20, x3, x5, x4             // x20 = first vCPU
    str     x20, [x19, #VM_VCPUS]
    ldr     x21, [x19, #VM_NR_VCPUS]
    add     x3, x3, x21
    str     x3, [x2]
    mov     x22, #0
2:  cmp     x22, x21
    b.hs    3f
    mov     x5, #VCPU_SIZE
    madd    x0, x22, x5, x20
    str     x19, [x0, #VCPU_VM]
    str     x22, [x0, #VCPU_INDEX]
    mov     x5, #0x80000000             // MPIDR: bit 31 RES1, Aff0 = vCPU number
    orr     x5, x5, x22
    str     x5, [x0, #VCPU_MPIDR]
    add     x5, x19, #VM_PIN
    ldrb    w5, [x5, x22]
    str     x5, [x0, #VCPU_PCPU]
    ldr     x5, =HCR_GUEST
    ldr     x6, [x19, #VM_FLAGS]
    tst     x6, #VM_F_NO_STAGE2
    b.eq    4f
    bic     x5, x5, #HCR_VM
4:  str     x5, [x0, #VCPU_HCR]
    str     xzr, [x0, #VCPU_POWER]
    bl      vgic_vcpu_init              // its redistributor, CPU interface, timer (keeps x0)
    add     x22, x22, #1
    b       2b
3:  mov     x0, x20                     // vCPU 0: reset at the entry, x0 = DTB
    ldr     x1, [x19, #VM_ENTRY]
    ldr     x2, [x19, #VM_DTB]
    bl      vcpu_reset
    mov     x1, #VCPU_RUNNABLE
    str     x1, [x20, #VCPU_POWER]
    mov     x1, #VM_STATE_RUNNING
    str     x1, [x19, #VM_STATE]
    leave
    .size   _start, . - _start

// vcpu_reset(x0 = vCPU, x1 = pc, x2 = x0 value): the architectural reset state a PE has when
// PSCI starts it (Arm DEN 0022, CPU_ON): registers zero, EL1h with DAIF masked, MMU off.
    .global vcpu_reset
    .type   vcpu_reset, %function
vcpu_reset:
    mov     x9, x0
    mov     x10, #CTXT_SIZE
1:  subs    x10, x10, #16
    stp     xzr, xzr, [x9], #16
    b.ne    1b
    str     x2, [x0, #CTXT_REGS]
    str     x1, [x0, #CTXT_PC]
    mov     x3, #SPSR_EL1H_MASKED
    str     x3, [x0, #CTXT_PSTATE]
    ldr     x3, =SCTLR_EL1_RESET
    str     x3, [x0, #CTXT_SYS_SCTLR_EL1]
    ret
    .size   vcpu_reset, . - vcpu_reset
