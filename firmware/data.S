// The hypervisor's data: per-PE records, vCPUs, locks, stage-2 tables, stacks. All of it is
// part of the image (zero-filled), so the image's end (hv_end) is the end of the hypervisor's
// memory below HV_MANIFEST; armvirt/hv/launch.py checks that it fits.

    .balign 16
    .global pcpus
    .type   pcpus, %object
pcpus:
    .space  PCPU_SIZE * MAX_PES
    .size   pcpus, . - pcpus
    .global vcpus
    .type   vcpus, %object
vcpus:
    .space  VCPU_SIZE * MAX_VCPUS
    .size   vcpus, . - vcpus
    .global nr_vcpus_total
    .type   nr_vcpus_total, %object
nr_vcpus_total:
    .quad   0
    .size   nr_vcpus_total, . - nr_vcpus_total
console_lock:
    .quad   0
    .global console_in_vm
    .type   console_in_vm, %object
console_in_vm:                          // the VM that reads the console input, or 0 (host/mmio.S)
    .quad   0
    .size   console_in_vm, . - console_in_vm
    .global vgic_nr_lrs
    .type   vgic_nr_lrs, %object
vgic_nr_lrs:                            // ICH_VTR_EL2.ListRegs + 1 (boot.S: vgic_probe)
    .quad   0
    .balign 16
    .size   vgic_nr_lrs, . - vgic_nr_lrs
    .global vgic_dists
    .type   vgic_dists, %object
vgic_dists:                             // each VM's virtual distributor (host/vgic.S)
    .space  VGICD_SIZE * MAX_VMS

    .balign 4096
    .size   vgic_dists, . - vgic_dists
    .global s2_pool
    .type   s2_pool, %object
s2_pool:                                // S2_PAGES_PER_VM pages per VM slot (hyp/stage2.S)
    .space  4096 * S2_PAGES_PER_VM * MAX_VMS
    .size   s2_pool, . - s2_pool
el2_stacks:
    .space  (1 << STACK_SHIFT) * MAX_PES
host_stacks:
    .space  (1 << STACK_SHIFT) * MAX_PES
    .global hv_end
hv_end:
