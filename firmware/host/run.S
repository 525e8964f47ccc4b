// The host part's run loop: one per physical PE (KVM: the vCPU threads' KVM_RUN loops plus
// the scheduler, folded into one loop since vCPUs are pinned).
//
// Split build: this code runs at EL1 with the host's own context (MMU off, no stage 2) and asks
// EL2 to run a vCPU with HVC HOST_HC_VCPU_RUN. Direct build: it runs at EL2 and calls
// __direct_vcpu_run. Everything in host/ is the same code in both builds.
//
// Scheduling: vCPUs are pinned (VCPU_PCPU). A PE runs its runnable vCPUs round robin, moving on
// when one blocks (WFI), yields (WFE) or stops; a PE with nothing runnable waits in WFE for an
// event (PSCI CPU_ON on another PE sends one). Time slicing by the EL2 physical timer, and
// waking a vCPU blocked in WFI when an interrupt is pending for it, come with the GIC branch.

// host_main(x0 = PCPU): never returns.
    .global host_main
host_main:
    mov     x19, x0
1:  mov     x0, x19
    bl      pick_vcpu
    cbz     x0, 2f
    mov     x20, x0
    bl      vcpu_run_once               // x0 = exit code
    mov     x1, x0
    mov     x0, x20
    bl      handle_exit                 // host/exits.S
    b       1b
2:  bl      all_vms_stopped
    cbnz    x0, hv_finish
    wfe
    b       1b

// vcpu_run_once(x0 = vCPU) -> x0 = exit code (EXC_*), the syndrome in the vCPU.
vcpu_run_once:
#ifdef HV_SPLIT
    mov     x1, x0
    mov     x0, #HOST_HC_VCPU_RUN
    hvc     #0
    ret
#else
    b       __direct_vcpu_run
#endif

// pick_vcpu(x0 = PCPU) -> x0 = the next runnable vCPU pinned here (round robin), or 0.
pick_vcpu:
    ldr     x1, [x0, #PCPU_INDEX]
    ldr     x2, [x0, #PCPU_LAST]
    ldr     x3, =nr_vcpus_total
    ldr     x3, [x3]
    cbz     x3, 9f
    ldr     x4, =vcpus
    mov     x5, x3                      // candidates left
1:  add     x2, x2, #1
    cmp     x2, x3
    csel    x2, xzr, x2, hs             // wrap around
    mov     x6, #VCPU_SIZE
    madd    x6, x2, x6, x4
    ldr     x7, [x6, #VCPU_PCPU]
    cmp     x7, x1
    b.ne    2f
    ldr     x7, [x6, #VCPU_POWER]
    cmp     x7, #VCPU_RUNNABLE
    b.ne    2f
    ldr     x7, [x6, #VCPU_VM]
    ldr     x7, [x7, #VM_STATE]
    cmp     x7, #VM_STATE_RUNNING
    b.ne    2f
    str     x2, [x0, #PCPU_LAST]
    mov     x0, x6
    ret
2:  subs    x5, x5, #1
    b.ne    1b
9:  mov     x0, #0
    ret

// all_vms_stopped() -> x0 = 1 when no VM runs any more.
    .global all_vms_stopped
all_vms_stopped:
    ldr     x1, =HV_MANIFEST
    ldr     x2, [x1, #MAN_NR_VMS]
    add     x1, x1, #MAN_VMS
1:  cbz     x2, 2f
    ldr     x3, [x1, #VM_STATE]
    cmp     x3, #VM_STATE_RUNNING
    b.eq    3f
    add     x1, x1, #VM_SIZE
    sub     x2, x2, #1
    b       1b
2:  mov     x0, #1
    ret
3:  mov     x0, #0
    ret

// hv_finish: every VM has stopped; say so and switch the machine off.
hv_finish:
    bl      log_begin
    log_s   "all VMs have stopped"
    bl      log_end
    ldr     x0, =HV_MANIFEST
    mov     x1, #HV_STATE_DONE
    str     x1, [x0, #MAN_HV_STATE]
    b       machine_off

// vm_stop(x0 = VM, x1 = VM_STATE_OFF | RESET | CRASHED): every vCPU of the VM stops for good
// (a vCPU running on another PE stops at its next exit: kicking it needs an IPI, GIC branch).
    .global vm_stop
vm_stop:
    enter
    mov     x19, x0
    mov     x20, x1
    add     x21, x19, #VM_LOCK
    spin_lock x21, x1, w2
    ldr     x1, [x19, #VM_STATE]
    cmp     x1, #VM_STATE_RUNNING
    b.ne    3f                          // already stopped by another vCPU
    str     x20, [x19, #VM_STATE]
    ldr     x1, [x19, #VM_VCPUS]
    ldr     x2, [x19, #VM_NR_VCPUS]
1:  str     xzr, [x1, #VCPU_POWER]
    add     x1, x1, #VCPU_SIZE
    subs    x2, x2, #1
    b.ne    1b
    mov     x0, x19
    bl      vm_console_flush            // a last partial line (under the VM's lock)
    spin_unlock x21
    bl      log_begin
    log_s   "VM "
    mov     x0, x19
    bl      log_vm_name
    cmp     x20, #VM_STATE_OFF
    b.ne    1f
    log_s   " powered off"
    b       2f
1:  cmp     x20, #VM_STATE_RESET
    b.ne    1f
    log_s   " asked for a system reset; stopped"
    b       2f
1:  log_s   " stopped by the hypervisor"
2:  bl      log_end
    sev                                 // PEs idling in WFE re-check whether anything is left
    leave
3:  spin_unlock x21
    leave
