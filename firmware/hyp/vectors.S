// EL2 vector tables (Arm ARM D1.10.2: 16 entries of 0x80 bytes, 2 KiB aligned).
//
// __guest_vectors is VBAR_EL2 while a guest runs (and, in the direct build, always): an
// exception from the guest (lower EL, AArch64) leaves through __guest_exit with the kind of
// vector as the exit code; anything taken from EL2 itself is a hypervisor bug, reported by
// hyp_panic. __host_vectors (split build) is VBAR_EL2 while the host part runs at EL1: its HVCs
// are the host's calls into EL2 (KVM's __kvm_call_hyp), and an FP/SIMD access trap switches the
// FP registers to the host. KVM/ARM swaps VBAR_EL2 the same way (nvhe/switch.c).

.macro ventry target
    .balign 0x80
    b       \target
.endm

// A guest exit: keep the guest's x0/x1 on the EL2 stack, x0 = how it left.
.macro guest_exit_vector code
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x0, #\code
    b       __guest_exit
.endm

    .balign 0x800
    .global __guest_vectors
    .type   __guest_vectors, %function
__guest_vectors:
    phase   dispatch
    ventry  hyp_panic_vector            // current EL, SP_EL0: sync
    ventry  hyp_panic_vector            //   IRQ
    ventry  hyp_panic_vector            //   FIQ
    ventry  hyp_panic_vector            //   SError
    ventry  hyp_panic_vector            // current EL, SP_EL2
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    guest_exit_vector EXC_SYNC          // lower EL, AArch64: the guest
    guest_exit_vector EXC_IRQ
    guest_exit_vector EXC_FIQ
    guest_exit_vector EXC_SERROR
    ventry  hyp_panic_vector            // lower EL, AArch32: cannot happen (HCR_EL2.RW = 1)
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector

#ifdef HV_SPLIT
    .balign 0x800
    .size   __guest_vectors, . - __guest_vectors
    .global __host_vectors
    .type   __host_vectors, %function
__host_vectors:
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  host_sync                   // lower EL, AArch64: the host part
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector
    ventry  hyp_panic_vector

// The host part's own EL1 vectors: it takes no exceptions on purpose, so any is a bug.
    .balign 0x800
    .size   __host_vectors, . - __host_vectors
    .global __host_el1_vectors
    .type   __host_el1_vectors, %function
__host_el1_vectors:
    .rept   16
    ventry  host_panic_vector
    .endr
#endif

// An exception taken at EL2 from EL2 (or an impossible one): report it and stop the machine.
hyp_panic_vector:
    mrs     x0, esr_el2
    mrs     x1, elr_el2
    mrs     x2, far_el2
    b       hyp_panic

#ifdef HV_SPLIT
host_panic_vector:
    mrs     x0, esr_el1
    mrs     x1, elr_el1
    mrs     x2, far_el1
    b       host_panic
#endif
    .size   __host_el1_vectors, . - __host_el1_vectors
