// Hypercalls of the guests: the SMC Calling Convention (Arm DEN 0028) over HVC #0 (or a
// trapped SMC #0). The function ID is W0 (the upper half of X0 is ignored); results go to X0..X3
// of the guest; X4..X17 are preserved (SMCCC v1.1), which is automatic since only X0..X3 of
// the saved context are written. Unknown functions return NOT_SUPPORTED (-1).
//
//   PSCI 1.1 (Arm DEN 0022)            0x8400_0000..0x8400_001F, 0xC400_0000..0xC400_001F
//   SMCCC_VERSION, SMCCC_ARCH_FEATURES 0x8000_0000, 0x8000_0001
//   armvirt's own (vendor hypervisor service, owner 6): ARMVIRT_HC_NOP, ARMVIRT_HC_INFO
//
// PSCI for a VM is about its vCPUs (KVM: arch/arm64/kvm/psci.c): CPU_ON starts a vCPU of the
// same VM by its MPIDR, AFFINITY_INFO reports one, SYSTEM_OFF/RESET stop the VM (not the
// machine: the machine goes off when the last VM stops).

// The guest's Xn in its context is at CTXT_REGS + 8 * n (CTXT_REGS is 0).

// A record of smccc_calls (below): {function ID (word), flags (word), handler (quad)}
#define SMCCC_CALL_SIZE             16
#define SMCCC_F_PSCI_FEATURE_BIT    0
#define SMCCC_F_PSCI_FEATURE        (1 << SMCCC_F_PSCI_FEATURE_BIT)

// handle_smccc(x0 = vCPU): look W0 up in smccc_calls and jump to its handler with
//   x19 = vCPU, w20 = function ID, x21 = SMCCC_NOT_SUPPORTED (the default answer), x22 = VM,
//   x9..x11 = the arguments X1..X3 (their low halves for an SMC32/HVC32 call, function ID bit
//   30 clear: those take 32-bit arguments; the calls that take none ignore them).
// A handler ends with `b ret1` (the guest's X0 = x21) or `leave` (X0 untouched: the caller
// does not return, or its VM stopped).
    .global handle_smccc
    .type   handle_smccc, %function
handle_smccc:
    enter
    mov     x19, x0
    ldr     w20, [x19, #CTXT_REGS + 0 * 8]     // the function ID (W0)
    mov     x21, #SMCCC_NOT_SUPPORTED
    ldr     x22, [x19, #VCPU_VM]
    ldr     x9, [x19, #CTXT_REGS + 1 * 8]
    ldr     x10, [x19, #CTXT_REGS + 2 * 8]
    ldr     x11, [x19, #CTXT_REGS + 3 * 8]
    tbnz    w20, #30, 1f
    mov     w9, w9
    mov     w10, w10
    mov     w11, w11
1:  mov     w0, w20
    bl      smccc_lookup
    cbz     x0, ret1                    // not in the table: NOT_SUPPORTED
    ldr     x8, [x0, #8]
    br      x8
ret1:                                   // x0 of the guest = x21
    str     x21, [x19, #CTXT_REGS + 0 * 8]
    leave

smccc_version:
    ldr     x21, =SMCCC_VERSION_1_1
    b       ret1

hc_nop:
    mov     x21, #0
    b       ret1

// ARMVIRT_HC_INFO -> X0 = 0, X1 = the VM's index, X2 = the vCPU's index, X3 = the VM's vCPUs
hc_info:
    ldr     x1, [x22, #VM_INDEX]
    str     x1, [x19, #CTXT_REGS + 1 * 8]
    ldr     x1, [x19, #VCPU_INDEX]
    str     x1, [x19, #CTXT_REGS + 2 * 8]
    ldr     x1, [x22, #VM_NR_VCPUS]
    str     x1, [x19, #CTXT_REGS + 3 * 8]
    mov     x21, #0
    b       ret1

psci_version:
    ldr     x21, =PSCI_VERSION_1_1
    b       ret1

psci_migrate_info_type:
    mov     x21, #PSCI_MIGRATE_NOT_REQUIRED
    b       ret1

// PSCI_FEATURES(function ID): SUCCESS for the calls the table marks SMCCC_F_PSCI_FEATURE
// (CPU_SUSPEND: original power_state format, no OSI), else NOT_SUPPORTED.
psci_features:
    mov     w0, w9
    bl      smccc_lookup
    cbz     x0, ret1
    ldr     w1, [x0, #4]
    tbz     w1, #SMCCC_F_PSCI_FEATURE_BIT, ret1
    mov     x21, #PSCI_SUCCESS
    b       ret1

psci_system_off:
    mov     x0, x22
    mov     x1, #VM_STATE_OFF
    bl      vm_stop
    leave

psci_system_reset:
    mov     x0, x22
    mov     x1, x19
    bl      vm_system_reset             // host/vflash.S: firmware starts again, or the VM stops
    leave

// CPU_SUSPEND: every power state is treated as standby (DEN 0022 5.4.2 allows it): like WFI
// the vCPU waits for an interrupt, then the call returns SUCCESS.
psci_cpu_suspend:
    mov     x0, x19
    bl      vcpu_block
    mov     x21, #PSCI_SUCCESS
    b       ret1

// CPU_OFF: the calling vCPU stops; it does not return (its context is dead until CPU_ON).
// When it was the VM's last vCPU, nothing can ever start one again: the VM is off.
psci_cpu_off:
    mov     x0, x19
    bl      vcpu_put
    mov     x0, x19
    bl      vcpu_forget_fp
    add     x13, x22, #VM_LOCK
    spin_lock x13, x1, w2
    str     xzr, [x19, #VCPU_POWER]
    ldr     x3, [x22, #VM_VCPUS]
    ldr     x4, [x22, #VM_NR_VCPUS]
    mov     x5, #0                      // vCPUs still on
1:  ldr     x6, [x3, #VCPU_POWER]
    cmp     x6, #VCPU_OFF
    cinc    x5, x5, ne
    add     x3, x3, #VCPU_SIZE
    subs    x4, x4, #1
    b.ne    1b
    spin_unlock x13
    cbnz    x5, 2f
    mov     x0, x22
    mov     x1, #VM_STATE_OFF
    bl      vm_stop
2:  leave

// AFFINITY_INFO(target MPIDR, lowest affinity level): 0 ON, 1 OFF (ON_PENDING never happens:
// CPU_ON completes at once). Level 0 only: this platform has one cluster.
psci_affinity_info:
    mov     x21, #PSCI_INVALID_PARAMETERS
    cbnz    x10, ret1
    mov     x0, x22
    mov     x1, x9
    bl      vm_find_vcpu
    cbz     x0, ret1
    ldr     x1, [x0, #VCPU_POWER]
    cmp     x1, #VCPU_OFF
    cset    x21, eq
    b       ret1

// CPU_ON(target MPIDR, entry point, context ID)
psci_cpu_on:
    mov     x0, x22
    mov     x1, x9
    bl      vm_find_vcpu
    mov     x21, #PSCI_INVALID_PARAMETERS
    cbz     x0, ret1
    mov     x12, x0                     // target vCPU
    mov     x0, x22                     // the entry point must be in the VM's RAM, aligned
    bl      vm_ram_start
    mov     x21, #PSCI_INVALID_ADDRESS
    tst     x10, #3
    b.ne    ret1
    cmp     x10, x0
    b.lo    ret1
    ldr     x1, [x22, #VM_MEM_SIZE]
    add     x0, x0, x1
    cmp     x10, x0
    b.hs    ret1
    add     x13, x22, #VM_LOCK
    spin_lock x13, x1, w2
    ldr     x1, [x12, #VCPU_POWER]
    mov     x21, #PSCI_ALREADY_ON
    cbnz    x1, 2f
    mov     x0, x12
    mov     x1, x10
    mov     x2, x11
    bl      vcpu_reset                  // (x12, x13 survive: vcpu_reset uses x0..x3, x9, x10)
    mov     x0, x12
    bl      vgic_reset_cpuif            // (and vgic_reset_cpuif x1, x2)
    mov     x1, #VCPU_RUNNABLE
    str     x1, [x12, #VCPU_POWER]
    mov     x21, #PSCI_SUCCESS
2:  spin_unlock x13
    cbnz    x21, ret1
    mov     x0, x12                     // its PE may be asleep in WFI
    bl      vgic_kick_vcpu
    b       ret1

// smccc_lookup(w0 = function ID) -> x0 = its smccc_calls record, or 0 (clobbers x1..x4).
// A search by halves of the table, sorted by ID: about five probes for any call, where a scan
// cost the last entries (the vendor calls, the hypercall benchmark's NOP) ~100 instructions.
smccc_lookup:
    adr     x1, smccc_calls             // [x1, x2): the records still in question
    adr     x2, smccc_calls_end
1:  cmp     x1, x2
    b.hs    2f
    sub     x3, x2, x1
    lsr     x3, x3, #5                  // half the records left ...
    add     x3, x1, x3, lsl #4          // ... past the first: the middle one
    ldr     w4, [x3]
    cmp     w4, w0
    b.eq    3f
    b.hi    4f
    add     x1, x3, #SMCCC_CALL_SIZE    // the ID is above the middle one
    b       1b
4:  mov     x2, x3                      // below it
    b       1b
2:  mov     x0, #0
    ret
3:  mov     x0, x3
    ret

// The calls a guest can make, sorted by function ID (an ID absent here is NOT_SUPPORTED).
// SMCCC_F_PSCI_FEATURE: PSCI_FEATURES reports it (every PSCI function offered, and
// SMCCC_VERSION: SMCCC 1.1 discovery is through PSCI_FEATURES). SMCCC_ARCH_FEATURES is listed
// to say it is known: no architectural workaround function is implemented, so it answers
// NOT_SUPPORTED for every query.
.set smccc_last_id, 0
.macro smccc_call id, flags, handler
.if (\id) <= smccc_last_id
.error "smccc_calls: not sorted by function ID (smccc_lookup searches it by halves)"
.endif
.set smccc_last_id, (\id)
    .word   \id, \flags
    .quad   \handler
.endm
    .balign 8
smccc_calls:
    smccc_call SMCCC_VERSION,           SMCCC_F_PSCI_FEATURE, smccc_version
    smccc_call SMCCC_ARCH_FEATURES,     0, ret1
    smccc_call PSCI_VERSION,            SMCCC_F_PSCI_FEATURE, psci_version
    smccc_call PSCI_CPU_SUSPEND_32,     SMCCC_F_PSCI_FEATURE, psci_cpu_suspend
    smccc_call PSCI_CPU_OFF,            SMCCC_F_PSCI_FEATURE, psci_cpu_off
    smccc_call PSCI_CPU_ON_32,          SMCCC_F_PSCI_FEATURE, psci_cpu_on
    smccc_call PSCI_AFFINITY_INFO_32,   SMCCC_F_PSCI_FEATURE, psci_affinity_info
    smccc_call PSCI_MIGRATE_INFO_TYPE,  SMCCC_F_PSCI_FEATURE, psci_migrate_info_type
    smccc_call PSCI_SYSTEM_OFF,         SMCCC_F_PSCI_FEATURE, psci_system_off
    smccc_call PSCI_SYSTEM_RESET,       SMCCC_F_PSCI_FEATURE, psci_system_reset
    smccc_call PSCI_FEATURES,           SMCCC_F_PSCI_FEATURE, psci_features
    smccc_call PSCI_CPU_SUSPEND_64,     SMCCC_F_PSCI_FEATURE, psci_cpu_suspend
    smccc_call PSCI_CPU_ON_64,          SMCCC_F_PSCI_FEATURE, psci_cpu_on
    smccc_call PSCI_AFFINITY_INFO_64,   SMCCC_F_PSCI_FEATURE, psci_affinity_info
    smccc_call ARMVIRT_HC_NOP,          0, hc_nop
    smccc_call ARMVIRT_HC_INFO,         0, hc_info
smccc_calls_end:
    .quad   0, 0                        // a zero record ends it for whoever walks it
    .size   handle_smccc, . - handle_smccc

// vm_find_vcpu(x0 = VM, x1 = MPIDR) -> x0 = its vCPU with that affinity (Aff3..Aff0), or 0
    .global vm_find_vcpu
    .type   vm_find_vcpu, %function
vm_find_vcpu:
    mov     x2, #0xFFFFFF
    orr     x2, x2, #0xFF00000000
    and     x1, x1, x2
    ldr     x3, [x0, #VM_VCPUS]
    ldr     x4, [x0, #VM_NR_VCPUS]
1:  cbz     x4, 2f
    ldr     x5, [x3, #VCPU_MPIDR]
    and     x5, x5, x2
    cmp     x5, x1
    b.eq    3f
    add     x3, x3, #VCPU_SIZE
    sub     x4, x4, #1
    b       1b
2:  mov     x0, #0
    ret
3:  mov     x0, x3
    ret
    .size   vm_find_vcpu, . - vm_find_vcpu

// vm_ram_start(x0 = VM) -> x0 = the guest-physical address of its RAM (GUEST_RAM_BASE; the
// physical address for a VM without stage 2)
    .global vm_ram_start
    .type   vm_ram_start, %function
vm_ram_start:
    ldr     x1, [x0, #VM_FLAGS]
    tst     x1, #VM_F_NO_STAGE2
    ldr     x0, [x0, #VM_PA_BASE]
    b.ne    1f
    ldr     x0, =GUEST_RAM_BASE
1:  ret
    .size   vm_ram_start, . - vm_ram_start
