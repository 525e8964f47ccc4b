// The host part's run loop: one per physical PE (KVM: the vCPU threads' KVM_RUN loops plus
// the scheduler, folded into one loop since vCPUs are pinned).
//
// Split build: this code runs at EL1 with the host's own context (MMU off, no stage 2) and asks
// EL2 to run a vCPU with HVC HOST_HC_VCPU_RUN. Direct build: it runs at EL2 and calls
// __direct_vcpu_run. Everything in host/ is the same code in both builds.
//
// Scheduling: vCPUs are pinned (VCPU_PCPU). A PE runs its runnable vCPUs round robin, moving on
// when one blocks (WFI), yields (WFE) or stops, or a physical interrupt ends its run. Around
// every run: vcpu_load (direct build: its registers into the PE), vgic_flush (pending virtual
// interrupts into its list registers), the run, vgic_sync (list registers the guest is done
// with), handle_exit. A vCPU blocked in WFI is woken by pick_vcpu when an interrupt is pending
// for it (host/vgic.S: vgic_vcpu_pending), its virtual timer included; for the earliest timer
// deadline of the blocked vCPUs the PE arms the host part's timer (HOST_TIMER_PPI). A PE with
// nothing runnable sleeps in WFI until a physical interrupt: that timer, or a kick (SGI_KICK)
// from a PE that made something pending for one of its vCPUs, started one (PSCI CPU_ON) or
// stopped a VM.

// host_main(x0 = PCPU): never returns.
    .global host_main
    .type   host_main, %function
host_main:
    phase   host
    mov     x19, x0
1:  mov     x0, x19
    bl      pick_vcpu
    cbz     x0, 2f
    mov     x20, x0
    bl      vcpu_load
    mov     x0, x20
    bl      vgic_flush
    mov     x0, x20
    bl      vcpu_run_once               // x0 = exit code
    mov     x21, x0
    mov     x0, x20
    bl      vgic_sync
    mov     x0, x20
    mov     x1, x21
    bl      handle_exit                 // host/exits.S
    b       1b
2:  mov     x0, x19
    bl      pe_idle
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

// pe_idle(x0 = PCPU): nothing to run here. Stop the machine if every VM has stopped; else
// sleep until a physical interrupt (the host timer armed by pick_vcpu, or a kick), and
// acknowledge it.
pe_idle:
    enter
    mov     x19, x0
#ifdef HV_DIRECT
    ldr     x0, [x19, #PCPU_LOADED]     // no vCPU state stays live (its timer off, too)
    cbz     x0, 1f
    bl      vcpu_put
1:
#endif
    bl      all_vms_stopped
    cbnz    x0, hv_finish
    wfi
    bl      irq_drain
    leave

// pick_vcpu(x0 = PCPU) -> x0 = the next runnable vCPU pinned here (round robin), or 0.
// On the way, every blocked vCPU pinned here with an interrupt pending becomes runnable, and
// the host timer is armed for the earliest virtual timer deadline of those still blocked and
// the earliest emulated physical timer deadline of all of them (host/ptimer.S)
// (KVM: kvm_vcpu_check_block and the background timer of kvm_timer_schedule) — or sooner,
// at the end of a time slice (TIME_SLICE_TICKS from now) when more than one vCPU is runnable
// here, so that a vCPU that never exits cannot keep the others from running.
pick_vcpu:
    enter_big
    mov     x19, x0
    ldr     x20, [x19, #PCPU_INDEX]
    ldr     x21, =nr_vcpus_total
    ldr     x21, [x21]
    ldr     x22, =vcpus
    mov     x23, #-1                    // earliest deadline
    mov     x26, #0                     // runnable vCPUs here
    mov     x24, #0
1:  cmp     x24, x21
    b.hs    5f
    mov     x1, #VCPU_SIZE
    madd    x25, x24, x1, x22
    ldr     x1, [x25, #VCPU_PCPU]
    cmp     x1, x20
    b.ne    4f
    ldr     x1, [x25, #VCPU_VM]
    ldr     x1, [x1, #VM_STATE]
    cmp     x1, #VM_STATE_RUNNING
    b.ne    4f
    ldr     x1, [x25, #VCPU_POWER]
    cmp     x1, #VCPU_RUNNABLE
    cinc    x26, x26, eq
    b.eq    7f                          // runnable: its physical timer's deadline
    cmp     x1, #VCPU_BLOCKED
    b.ne    4f
    mov     x0, x25
    bl      vgic_vcpu_pending
    cbz     x0, 3f
    mov     x0, x25
    bl      vcpu_wake
    add     x26, x26, #1
    b       4f
3:  mov     x0, x25
    bl      vtimer_deadline
    cmp     x0, x23
    csel    x23, x0, x23, lo
7:  mov     x0, x25                     // the emulated physical timer (host/ptimer.S) has
    bl      ptimer_deadline             // no timer of its own: the host's watches it, for a
    cmp     x0, x23                     // running vCPU as for a blocked one
    csel    x23, x0, x23, lo
4:  add     x24, x24, #1
    b       1b
5:  cmp     x26, #2                     // sharing the PE: a time slice
    b.lo    50f
    mrs     x1, cntpct_el0
    ldr     x2, =TIME_SLICE_TICKS
    add     x1, x1, x2
    cmp     x1, x23
    csel    x23, x1, x23, lo
50: ldr     x1, [x19, #PCPU_TIMER_AT]   // the host timer, if that changed
    cmp     x1, x23
    b.eq    6f
    str     x23, [x19, #PCPU_TIMER_AT]
    cmn     x23, #1
    b.ne    51f
    host_timer_off
    b       6f
51: host_timer_arm x23, x1
6:  ldr     x2, [x19, #PCPU_LAST]       // round robin among the runnable ones
    mov     x3, x21
    cbz     x3, 9f
    mov     x5, x3                      // candidates left
1:  add     x2, x2, #1
    cmp     x2, x3
    csel    x2, xzr, x2, hs             // wrap around
    mov     x6, #VCPU_SIZE
    madd    x6, x2, x6, x22
    ldr     x7, [x6, #VCPU_PCPU]
    cmp     x7, x20
    b.ne    2f
    ldr     x7, [x6, #VCPU_POWER]
    cmp     x7, #VCPU_RUNNABLE
    b.ne    2f
    ldr     x7, [x6, #VCPU_VM]
    ldr     x7, [x7, #VM_STATE]
    cmp     x7, #VM_STATE_RUNNING
    b.ne    2f
    str     x2, [x19, #PCPU_LAST]
    mov     x0, x6
    leave_big
2:  subs    x5, x5, #1
    b.ne    1b
9:  mov     x0, #0
    leave_big

// vcpu_wake(x0 = vCPU): blocked -> runnable (under its VM's lock: PSCI and vm_stop on other
// PEs change power states too).
vcpu_wake:
    ldr     x1, [x0, #VCPU_VM]
    add     x1, x1, #VM_LOCK
    spin_lock x1, x2, w3
    ldr     x2, [x0, #VCPU_POWER]
    cmp     x2, #VCPU_BLOCKED
    b.ne    1f
    mov     x2, #VCPU_RUNNABLE
    str     x2, [x0, #VCPU_POWER]
1:  spin_unlock x1
    ret
    .size   host_main, . - host_main

// vcpu_block(x0 = vCPU, on its PE, after an exit): WFI, or CPU_SUSPEND. Its state goes to
// memory (vcpu_put); it blocks unless an interrupt is pending for it already. It becomes
// runnable again in pick_vcpu.
    .global vcpu_block
    .type   vcpu_block, %function
vcpu_block:
    enter
    mov     x19, x0
    bl      vcpu_put
    mov     x0, x19
    bl      vgic_vcpu_pending
    cbnz    x0, 9f                      // (not 1f: spin_lock has a label 1 of its own)
    ldr     x1, [x19, #VCPU_VM]
    add     x1, x1, #VM_LOCK
    spin_lock x1, x2, w3
    ldr     x2, [x19, #VCPU_POWER]
    cmp     x2, #VCPU_RUNNABLE
    b.ne    2f
    mov     x2, #VCPU_BLOCKED
    str     x2, [x19, #VCPU_POWER]
    ldr     x0, [x19, #VCPU_VM]         // the whole VM waits (no vCPU runnable): the start of
    ldr     x3, [x0, #VM_VCPUS]         // a line it printed (a prompt) goes out now
    ldr     x4, [x0, #VM_NR_VCPUS]      // (host/mmio.S); not while another vCPU may be in the
3:  ldr     x2, [x3, #VCPU_POWER]       // middle of printing that line
    cmp     x2, #VCPU_RUNNABLE
    b.eq    4f
    add     x3, x3, #VCPU_SIZE
    subs    x4, x4, #1
    b.ne    3b
    bl      vm_console_flush
4:  ldr     x1, [x19, #VCPU_VM]
    add     x1, x1, #VM_LOCK
2:  spin_unlock x1
9:  leave
    .size   vcpu_block, . - vcpu_block

// all_vms_stopped() -> x0 = 1 when no VM runs any more.
    .global all_vms_stopped
    .type   all_vms_stopped, %function
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
    .size   all_vms_stopped, . - all_vms_stopped

// vm_stop(x0 = VM, x1 = VM_STATE_OFF | RESET | CRASHED): every vCPU of the VM stops for good
// (a vCPU running on another PE is kicked out of the guest: the kick sees its VM stopped).
    .global vm_stop
    .type   vm_stop, %function
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
    bl      gic_kick_others             // running vCPUs of the VM stop, idle PEs re-check
    leave
3:  spin_unlock x21
    leave
    .size   vm_stop, . - vm_stop
