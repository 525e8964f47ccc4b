// Stage-2 translation tables (Arm ARM D8, VMSAv8-64 stage 2, 4 KiB granule).
//
// Every VM gets S2_PAGES_PER_VM pages of s2_pool: a level-1 table (VTCR_EL2: T0SZ = 25, a
// 39-bit IPA space; SL0 = 1, the walk starts at level 1, 1 GiB per entry) and up to
// S2_L2_TABLES level-2 tables whose entries are 2 MiB block descriptors. The guest's RAM
// [GUEST_RAM_BASE, GUEST_RAM_BASE + MEM_SIZE) maps to [PA_BASE, PA_BASE + MEM_SIZE) as Normal
// write-back read/write memory; nothing else is mapped, so every other IPA (the devices, other
// VMs, the hypervisor) takes a stage-2 translation fault to EL2, where host/mmio.S emulates
// a device or injects an abort. VTTBR_EL2 = VMID << 48 | the level-1 table.
//
// A VM with a bios (VM_FLASH_PA != 0) also has IPA 0..1 GiB through the level-2 table at page
// S2_FLASH_L2: its flash banks, mapped read-only while in read-array mode
// (host/vflash.S: vflash_map changes those entries and calls s2_flush_vm).

// s2_build(x0 = VM): build its tables and set VM_VTTBR.
    .global s2_build
    .type   s2_build, %function
s2_build:
    phase   host
    enter
    mov     x19, x0
    ldr     x20, =s2_pool
    ldr     x1, [x19, #VM_INDEX]
    mov     x2, #(S2_PAGES_PER_VM * 4096)
    madd    x20, x1, x2, x20            // x20 = level-1 table
    mov     x0, x20                     // zero all its pages
    mov     x1, #(S2_PAGES_PER_VM * 4096)
1:  subs    x1, x1, #16
    stp     xzr, xzr, [x0], #16
    b.ne    1b
    ldr     x1, [x19, #VM_PA_BASE]      // x1 = PA, x2 = IPA, x3 = bytes left
    ldr     x2, =GUEST_RAM_BASE
    ldr     x3, [x19, #VM_MEM_SIZE]
    mov     x7, #S2_DESC_BLOCK_RAM
2:  cbz     x3, 3f
    lsr     x4, x2, #30                 // level-1 index (IPA[38:30])
    sub     x5, x4, #(GUEST_RAM_BASE >> 30)
    add     x5, x5, #1
    add     x5, x20, x5, lsl #12        // its level-2 table: page 1 + (GiB - first GiB)
    orr     x6, x5, #S2_DESC_TABLE
    str     x6, [x20, x4, lsl #3]
    ubfx    x4, x2, #21, #9             // level-2 index (IPA[29:21])
    orr     x6, x1, x7
    str     x6, [x5, x4, lsl #3]
    add     x1, x1, #(2 << 20)
    add     x2, x2, #(2 << 20)
    sub     x3, x3, #(2 << 20)
    b       2b
3:  ldr     x1, [x19, #VM_FLASH_PA]
    cbz     x1, 4f
    add     x5, x20, #(S2_FLASH_L2 * 4096)   // the flash's level-2 table: IPA GiB 0
    orr     x6, x5, #S2_DESC_TABLE
    str     x6, [x20]
    mov     x6, #FLASH_SR_READY         // both banks at power-on: status ready, read array
    str     x6, [x19, #VM_FL_STATUS]
    str     x6, [x19, #VM_FL_STATUS + 8]
    mov     x0, x19
    mov     x1, #0
    mov     x2, #1
    bl      vflash_fill                 // both banks in read-array mode (host/vflash.S)
    mov     x0, x19
    mov     x1, #1
    mov     x2, #1
    bl      vflash_fill
4:  dsb     sy
    ldr     x1, [x19, #VM_VMID]
    lsl     x1, x1, #VTTBR_VMID_SHIFT
    orr     x1, x1, x20
    str     x1, [x19, #VM_VTTBR]
    leave
    .size   s2_build, . - s2_build

// __s2_flush_vmid(x0 = VM), at EL2: every TLB entry of the VM's VMID (stage 1 and 2) is
// invalidated on every PE (KVM's __kvm_tlb_flush_vmid): TLBI VMALLS12E1IS under the VM's
// VTTBR_EL2, the one that was loaded put back. The split build's host part asks for it with
// HOST_HC_S2_FLUSH; the direct build's handlers call it directly (s2_flush_vm).
    .global __s2_flush_vmid
    .type   __s2_flush_vmid, %function
__s2_flush_vmid:
    dsb     ishst                       // the descriptor changes first
    mrs     x1, vttbr_el2
    ldr     x2, [x0, #VM_VTTBR]
    msr     vttbr_el2, x2
    isb
    tlbi    vmalls12e1is
    dsb     ish
    msr     vttbr_el2, x1
    isb
    ret
    .size   __s2_flush_vmid, . - __s2_flush_vmid
