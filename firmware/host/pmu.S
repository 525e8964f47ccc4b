// The PMU for guests (KVM: arch/arm64/kvm/pmu-emul.c and pmu.c; here the counters are the
// PE's own, partitioned, not perf events).
//
// MDCR_EL2.HPMN = GUEST_PMU_COUNTERS while a guest runs and in the split build's host part: at
// EL1 and EL0 PMCR_EL0.N reads HPMN, event counters 0..HPMN-1 and the cycle counter are the
// guest's, counters HPMN.. are UNDEFINED there and their bits in PMCNTEN/PMINTEN/PMOVS are
// RAZ/WI (Arm ARM D13.3.1 "Controlling the PMU counters"); they are the hypervisor's (MDCR_EL2.
// HPME enables them), for its own measurements, and no guest can see or disturb them. No PMU
// register traps (MDCR_EL2.TPM = TPMCR = 0): the guest programs its share directly.
//
// Its share is switched lazily: PCPU_PMU_OWNER names the vCPU whose share is in the PE, and
// pmu_load, called before every run (vcpu_load), only switches when another vCPU runs. So the
// counters keep counting while the hypervisor handles the guest's exits — at EL2, and in the
// split build at the host part's EL1, as the guest's own filters (PMCCFILTR_EL0/PMEVTYPER.P/NSH)
// say: a guest measuring an exit with its cycle counter (guests/microbench.S) sees its cost.
//
// The overflow interrupt, PPI 23, is level-sensitive: while the owner runs, the physical PPI
// 23 (enabled in the hypervisor's GIC) ends the run; vgic_flush gives the guest its virtual
// twin in a list register with HW = 1, and the physical one stays active until the guest's
// EOI deactivates both (as the virtual timer: host/vgic.S).

.if GUEST_PMU_COUNTERS != 4
.error "pmu_load moves exactly four event counters"
.endif

// pmu_level(x0 = vCPU) -> x0 = 1 if the overflow interrupt of its share is asserted: an
// overflow flag with its interrupt enabled, of a counter that PMCR_EL0.E enables (D13.8).
// Read from the PE when the vCPU owns it, else from its record. Clobbers x1..x3.
    .global pmu_level
    .type   pmu_level, %function
pmu_level:
    phase   host
    this_pcpu x1
    ldr     x1, [x1, #PCPU_PMU_OWNER]
    cmp     x1, x0
    b.ne    1f
    mrs     x1, pmcr_el0
    mrs     x2, pmovsset_el0
    mrs     x3, pmintenset_el1
    b       2f
1:  ldr     x1, [x0, #VCPU_PMCR]
    ldr     x2, [x0, #VCPU_PMOVS]
    ldr     x3, [x0, #VCPU_PMINTEN]
2:  and     x2, x2, x3
    ldr     x3, =GUEST_PMU_MASK
    and     x2, x2, x3
    cmp     x2, #0
    cset    x2, ne
    and     x0, x1, x2                  // PMCR_EL0.E is bit 0
    ret
    .size   pmu_level, . - pmu_level

// pmu_load(x0 = vCPU about to run, on its PE): its share of the PMU into the PE unless it is
// there already; the previous owner's out to its record first. Clobbers x0..x6.
    .global pmu_load
    .type   pmu_load, %function
pmu_load:
    phase   pmu, restore
    this_pcpu x5
    ldr     x1, [x5, #PCPU_PMU_OWNER]
    cmp     x1, x0
    b.eq    9f
    str     x0, [x5, #PCPU_PMU_OWNER]
    ldr     x6, =GUEST_PMU_MASK
    cbz     x1, 1f
    mrs     x2, pmcntenset_el0          // the owner's share out, counters stopped first
    and     x2, x2, x6
    str     x2, [x1, #VCPU_PMCNTEN]
    msr     pmcntenclr_el0, x6
    isb
    mrs     x2, pmcr_el0
    str     x2, [x1, #VCPU_PMCR]
    mrs     x2, pmselr_el0
    str     x2, [x1, #VCPU_PMSELR]
    mrs     x2, pmintenset_el1
    and     x2, x2, x6
    str     x2, [x1, #VCPU_PMINTEN]
    mrs     x2, pmovsset_el0
    and     x2, x2, x6
    str     x2, [x1, #VCPU_PMOVS]
    mrs     x2, pmuserenr_el0
    str     x2, [x1, #VCPU_PMUSERENR]
    mrs     x2, pmccfiltr_el0
    str     x2, [x1, #VCPU_PMCCFILTR]
    mrs     x2, pmccntr_el0
    str     x2, [x1, #VCPU_PMCCNTR]
    mrs     x2, pmevtyper0_el0
    str     x2, [x1, #VCPU_PMEVTYPER + 0]
    mrs     x2, pmevtyper1_el0
    str     x2, [x1, #VCPU_PMEVTYPER + 8]
    mrs     x2, pmevtyper2_el0
    str     x2, [x1, #VCPU_PMEVTYPER + 16]
    mrs     x2, pmevtyper3_el0
    str     x2, [x1, #VCPU_PMEVTYPER + 24]
    mrs     x2, pmevcntr0_el0
    str     x2, [x1, #VCPU_PMEVCNTR + 0]
    mrs     x2, pmevcntr1_el0
    str     x2, [x1, #VCPU_PMEVCNTR + 8]
    mrs     x2, pmevcntr2_el0
    str     x2, [x1, #VCPU_PMEVCNTR + 16]
    mrs     x2, pmevcntr3_el0
    str     x2, [x1, #VCPU_PMEVCNTR + 24]
1:  msr     pmcntenclr_el0, x6          // the new owner's in, its counters started last
    msr     pmintenclr_el1, x6
    msr     pmovsclr_el0, x6
    isb
    ldr     x2, [x0, #VCPU_PMCR]
    mov     x3, #0x7D                   // E, D, X, DP, LC (not the write-only P and C)
    and     x2, x2, x3
    msr     pmcr_el0, x2
    ldr     x2, [x0, #VCPU_PMSELR]
    msr     pmselr_el0, x2
    ldr     x2, [x0, #VCPU_PMUSERENR]
    msr     pmuserenr_el0, x2
    ldr     x2, [x0, #VCPU_PMCCFILTR]
    msr     pmccfiltr_el0, x2
    ldr     x2, [x0, #VCPU_PMCCNTR]
    msr     pmccntr_el0, x2
    ldr     x2, [x0, #VCPU_PMEVTYPER + 0]
    msr     pmevtyper0_el0, x2
    ldr     x2, [x0, #VCPU_PMEVTYPER + 8]
    msr     pmevtyper1_el0, x2
    ldr     x2, [x0, #VCPU_PMEVTYPER + 16]
    msr     pmevtyper2_el0, x2
    ldr     x2, [x0, #VCPU_PMEVTYPER + 24]
    msr     pmevtyper3_el0, x2
    ldr     x2, [x0, #VCPU_PMEVCNTR + 0]
    msr     pmevcntr0_el0, x2
    ldr     x2, [x0, #VCPU_PMEVCNTR + 8]
    msr     pmevcntr1_el0, x2
    ldr     x2, [x0, #VCPU_PMEVCNTR + 16]
    msr     pmevcntr2_el0, x2
    ldr     x2, [x0, #VCPU_PMEVCNTR + 24]
    msr     pmevcntr3_el0, x2
    ldr     x2, [x0, #VCPU_PMOVS]
    msr     pmovsset_el0, x2
    ldr     x2, [x0, #VCPU_PMINTEN]
    msr     pmintenset_el1, x2
    ldr     x2, [x0, #VCPU_PMCNTEN]
    msr     pmcntenset_el0, x2
    isb
9:  ret
    .size   pmu_load, . - pmu_load
