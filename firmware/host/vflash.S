// A VM's flash: the virt board's two CFI parallel flash banks at IPA FLASH_BASE (0x0) and
// FLASH_BASE + FLASH_BANK_SIZE, for a VM started from firmware (a `bios`), as QEMU gives a KVM
// guest its pflash devices (hw/block/pflash_cfi01.c in "romd" mode, a read-only memory slot).
//
// The banks' contents are in physical RAM after the VM's own (VM_FLASH_PA: bank 0, bank 1).
// In read-array mode a bank is mapped in stage 2 read-only and executable: the firmware runs in
// place and reads its data at full speed; a write is a command for the device, and faults (a
// stage-2 permission fault with a full syndrome) to vflash_access. A command that leaves
// read-array mode (CFI query, read identifier, status, program, erase) takes the bank out of
// stage 2, so that its reads fault too and get the device's answers; back in read-array mode it
// is mapped again (KVM: QEMU removes and re-adds the memory slot on the same transitions).
//
// The command set is the bare board's (armvirt/pflash.py, the Intel/Sharp set of JESD68 CFI
// devices, with QEMU's behaviour): read array (0xFF, 0x00, 0xF0), read status (0x70), clear
// status (0x50), read identifier (0x90), CFI query (0x98), word program (0x40/0x10), block erase
// (0x20, 0xD0), write to buffer (0xE8, count, data, 0xD0; the data is stored as it comes, as
// QEMU's pflash_cfi01 does), block lock/unlock (0x60, then 0x01/0xD0: accepted, not enforced).
// Bank 0 holds the firmware and is read-only: a program or erase sets the status register's
// error bits. The bus is 32 bits wide (two x16 devices): 8-byte accesses are two bus cycles;
// device answers (status, identifiers, the query table) are replicated in both halves.

#define FL_BANK_SHIFT   26              // log2(FLASH_BANK_SIZE)
#define FL_BLOCK        0x200000                  // a level-2 stage-2 block: 2 MiB
#define FL_BLOCKS       (FLASH_BANK_SIZE / FL_BLOCK)  // blocks per bank

// vflash_fill(x0 = VM, x1 = bank, x2 = 1 map read-only | 0 unmap): the bank's level-2 entries
// (s2_build's flash table). No TLB maintenance: vflash_map does that. Clobbers x0..x7.
    .global vflash_fill
    .type   vflash_fill, %function
vflash_fill:
    ldr     x3, =s2_pool
    ldr     x4, [x0, #VM_INDEX]
    mov     x5, #(S2_PAGES_PER_VM * 4096)
    madd    x3, x4, x5, x3
    add     x3, x3, #(S2_FLASH_L2 * 4096)
    add     x3, x3, x1, lsl #(FL_BANK_SHIFT - 21 + 3)   // entry of the bank's first block
    ldr     x4, [x0, #VM_FLASH_PA]
    add     x4, x4, x1, lsl #FL_BANK_SHIFT
    mov     x5, #S2_DESC_BLOCK_ROM
    orr     x4, x4, x5
    mov     x6, #FL_BLOCKS
1:  cmp     x2, #0
    csel    x7, x4, xzr, ne
    str     x7, [x3], #8
    add     x4, x4, #FL_BLOCK
    subs    x6, x6, #1
    b.ne    1b
    add     x0, x0, #VM_FL_UNMAPPED
    eor     x2, x2, #1
    str     x2, [x0, x1, lsl #3]
    ret
    .size   vflash_fill, . - vflash_fill

// vflash_map(x0 = VM, x1 = bank, x2 = 1 map | 0 unmap): vflash_fill, then the VM's TLB entries
// invalidated on every PE, so no vCPU keeps using the old mapping.
vflash_map:
    enter
    mov     x19, x0
    bl      vflash_fill
    mov     x0, x19
    bl      s2_flush_vm
    leave

// s2_flush_vm(x0 = VM): __s2_flush_vmid at EL2 (hyp/stage2.S), from either build.
    .global s2_flush_vm
    .type   s2_flush_vm, %function
s2_flush_vm:
#ifdef HV_SPLIT
    mov     x1, x0
    mov     x0, #HOST_HC_S2_FLUSH
    hvc     #0
    ret
#else
    b       __s2_flush_vmid
#endif
    .size   s2_flush_vm, . - s2_flush_vm

// vflash_access(x0 = VM, x1 = offset in the flash window, x2 = SAS, x3 = value, x4 = vCPU,
// x5 = is_write) -> x0 (reads). Handler contract: host/mmio.S. Under the VM's lock.
    .global vflash_access
    .type   vflash_access, %function
vflash_access:
    enter_big
    mov     x19, x0
    lsr     x20, x1, #FL_BANK_SHIFT     // x20 = bank
    ubfx    x21, x1, #0, #FL_BANK_SHIFT // x21 = offset in the bank
    mov     x22, #1
    lsl     x22, x22, x2                // x22 = bytes
    mov     x23, x3
    mov     x24, x5
    mov     x25, #0                     // x25 = value read
    mov     x26, #0                     // x26 = bus cycle (bytes done)
    add     x27, x19, #VM_LOCK
    spin_lock x27, x9, w10
1:  sub     x3, x22, x26                // this cycle: min(4, bytes left)
    cmp     x3, #4
    mov     x9, #4
    csel    x3, x3, x9, lo
    mov     x28, x3
    mov     x0, x19
    mov     x1, x20
    add     x2, x21, x26
    cbz     x24, 2f
    lsl     x9, x26, #3
    lsr     x4, x23, x9
    bl      vflash_write_cycle
    b       3f
2:  bl      vflash_read_cycle
    lsl     x9, x26, #3
    lsl     x0, x0, x9
    orr     x25, x25, x0
3:  add     x26, x26, x28
    cmp     x26, x22
    b.lo    1b
    spin_unlock x27
    mov     x0, x25
    leave_big
    .size   vflash_access, . - vflash_access

// vflash_read_cycle(x0 = VM, x1 = bank, x2 = offset, x3 = bytes <= 4) -> x0: one bus read.
vflash_read_cycle:
    enter
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    mov     x22, x3
    add     x9, x19, #VM_FL_CMD
    ldr     x10, [x9, x20, lsl #3]      // x10 = command in progress
    cmp     x10, #0x90
    b.eq    10f
    cmp     x10, #0x98
    b.eq    20f
    cbz     x10, 30f
    cmp     x10, #0xFF
    b.eq    30f
    add     x9, x19, #VM_FL_STATUS      // any other command: the status register(s)
    ldr     x0, [x9, x20, lsl #3]
    cmp     x22, #2
    b.ls    90f
    orr     x0, x0, x0, lsl #16
    b       90f
10: ubfx    x9, x21, #2, #8             // read identifier: bus offset -> device word
    mov     x0, #0
    cmp     x9, #0
    mov     x11, #FLASH_ID_MANUFACTURER
    csel    x0, x11, x0, eq
    cmp     x9, #1
    mov     x11, #FLASH_ID_DEVICE
    csel    x0, x11, x0, eq
    b       80f
20: lsr     x9, x21, #2                 // CFI query: the table, by device word
    mov     x0, #0
    cmp     x9, #FLASH_CFI_LEN
    b.hs    80f
    adr     x11, vflash_cfi
    ldrb    w0, [x11, x9]
    b       80f
30: add     x9, x19, #VM_FL_CMD         // read array (also a state no read mode belongs to,
    str     xzr, [x9, x20, lsl #3]      // which QEMU resets)
    add     x9, x19, #VM_FL_WCYCLE
    str     xzr, [x9, x20, lsl #3]
    ldr     x9, [x19, #VM_FLASH_PA]
    add     x9, x9, x20, lsl #FL_BANK_SHIFT
    add     x9, x9, x21
    cmp     x22, #1
    b.ne    31f
    ldrb    w0, [x9]
    b       90f
31: cmp     x22, #2
    b.ne    32f
    ldrh    w0, [x9]
    b       90f
32: ldr     w0, [x9]                    // 3 bytes never happen (SAS is a power of two)
    b       90f
80: orr     x0, x0, x0, lsl #16         // every device on the bus answers alike
90: mov     x9, #8                      // cut to the access size
    mul     x9, x9, x22
    mov     x10, #1
    lsl     x10, x10, x9
    sub     x10, x10, #1
    and     x0, x0, x10
    leave

// vflash_write_cycle(x0 = VM, x1 = bank, x2 = offset, x3 = bytes <= 4, x4 = value): one bus
// write, a step of the command state machine (armvirt/pflash.py CFIFlash._write_cycle).
vflash_write_cycle:
    enter_big
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    mov     x22, x3
    mov     x9, #8
    mul     x9, x9, x3
    mov     x10, #1
    lsl     x10, x10, x9
    sub     x10, x10, #1
    and     x23, x4, x10                // x23 = value, cut to the cycle
    and     x24, x23, #0xFF             // x24 = command byte
    add     x25, x19, #VM_FL_CMD
    add     x25, x25, x20, lsl #3       // x25 = &cmd[bank]; wcycle, status, counter at fixed
    ldr     x26, [x25, #(VM_FL_WCYCLE - VM_FL_CMD)]     // distances from it
    ldr     x27, [x25, #(VM_FL_STATUS - VM_FL_CMD)]     // x27 = status
    cbnz    x26, 40f
    // ---- write cycle 0: a new command
    cmp     x24, #0x00
    b.eq    read_array
    cmp     x24, #0xF0
    b.eq    read_array
    cmp     x24, #0xFF
    b.eq    read_array
    cmp     x24, #0x10
    b.eq    10f
    cmp     x24, #0x40
    b.eq    10f
    cmp     x24, #0x60
    b.eq    10f
    cmp     x24, #0x98
    b.eq    10f
    cmp     x24, #0x20
    b.eq    20f
    cmp     x24, #0x50
    b.eq    30f
    cmp     x24, #0x70
    b.eq    31f
    cmp     x24, #0x90
    b.eq    31f
    cmp     x24, #0xE8
    b.ne    read_array                  // an unknown command: back to read array, as QEMU
    orr     x27, x27, #FLASH_SR_READY
10: mov     x26, #1                     // commands with more cycles to come
    str     x24, [x25]
    b       out_of_array
20: and     x0, x21, #~(FLASH_SECTOR_SIZE - 1)  // block erase: done now (QEMU), confirmed next
    cbnz    x20, 21f
    orr     x27, x27, #FLASH_SR_ERASE_ERROR     // bank 0 is read-only
    b       22f
21: mov     x1, #FLASH_SECTOR_SIZE
    mov     x2, #0xFF
    bl      vflash_store_fill
22: orr     x27, x27, #FLASH_SR_READY
    b       10b
30: mov     x27, #0                     // clear status
    b       read_array
31: str     x24, [x25]                  // read status / identifier: no further cycle
    b       out_of_array

    // ---- later cycles of the command in progress
40: ldr     x9, [x25]                   // x9 = command
    cmp     x26, #1
    b.ne    50f
    cmp     x9, #0x10
    b.eq    41f
    cmp     x9, #0x40
    b.eq    41f
    cmp     x9, #0x20
    b.eq    42f
    cmp     x9, #0x28
    b.eq    42f
    cmp     x9, #0xE8
    b.eq    43f
    cmp     x9, #0x60
    b.eq    44f
    cmp     x9, #0x98
    b.ne    read_array
    cmp     x24, #0xFF                  // the query mode ends with read array only
    b.eq    read_array
    b       done
41: cbnz    x20, 45f                    // word program
    orr     x27, x27, #FLASH_SR_PROGRAM_ERROR
    b       46f
45: mov     x0, x21
    mov     x1, x22
    mov     x2, x23
    bl      vflash_store
46: orr     x27, x27, #FLASH_SR_READY
    mov     x26, #0
    b       done
42: cmp     x24, #0xD0                  // erase confirm
    b.ne    read_array
    mov     x26, #0
    orr     x27, x27, #FLASH_SR_READY
    b       done
43: and     x9, x23, #0xFFFF            // write to buffer: the word count - 1
    str     x9, [x25, #(VM_FL_COUNTER - VM_FL_CMD)]
    mov     x26, #2
    b       done
44: cmp     x24, #0x01                  // lock / unlock confirm
    b.eq    47f
    cmp     x24, #0xD0
    b.ne    read_array
47: mov     x26, #0
    orr     x27, x27, #FLASH_SR_READY
    b       done
50: cmp     x26, #2
    b.ne    60f
    cbnz    x20, 51f                    // write to buffer: the data, stored as it comes
    orr     x27, x27, #FLASH_SR_PROGRAM_ERROR
    b       52f
51: mov     x0, x21
    mov     x1, x22
    mov     x2, x23
    bl      vflash_store
52: orr     x27, x27, #FLASH_SR_READY
    ldr     x9, [x25, #(VM_FL_COUNTER - VM_FL_CMD)]
    cbz     x9, 53f
    sub     x9, x9, #1
    str     x9, [x25, #(VM_FL_COUNTER - VM_FL_CMD)]
    b       done
53: mov     x26, #3
    b       done
60: cmp     x24, #0xD0                  // write to buffer: the confirmation
    b.ne    read_array
    tst     x27, #FLASH_SR_PROGRAM_ERROR
    b.ne    read_array
    mov     x26, #0
    orr     x27, x27, #FLASH_SR_READY
    b       done

read_array:                             // back to read array: mapped again
    mov     x26, #0
    str     xzr, [x25]
    add     x9, x19, #VM_FL_UNMAPPED
    ldr     x9, [x9, x20, lsl #3]
    cbz     x9, done
    mov     x0, x19
    mov     x1, x20
    mov     x2, #1
    bl      vflash_map
    b       done
out_of_array:                           // a mode whose reads are the device's: out of stage 2
    add     x9, x19, #VM_FL_UNMAPPED
    ldr     x9, [x9, x20, lsl #3]
    cbnz    x9, done
    mov     x0, x19
    mov     x1, x20
    mov     x2, #0
    bl      vflash_map
done:
    str     x26, [x25, #(VM_FL_WCYCLE - VM_FL_CMD)]
    str     x27, [x25, #(VM_FL_STATUS - VM_FL_CMD)]
    leave_big

// vflash_store(x0 = offset in bank 1, x1 = bytes 1..4, x2 = value), x19 = VM: program.
vflash_store:
    ldr     x9, [x19, #VM_FLASH_PA]
    add     x9, x9, x0
    mov     x10, #FLASH_BANK_SIZE
    add     x9, x9, x10
1:  strb    w2, [x9], #1
    lsr     x2, x2, #8
    subs    x1, x1, #1
    b.ne    1b
    ret

// vflash_store_fill(x0 = offset in bank 1, 16-byte aligned, x1 = bytes, x2 = byte), x19 = VM.
vflash_store_fill:
    ldr     x9, [x19, #VM_FLASH_PA]
    add     x9, x9, x0
    mov     x10, #FLASH_BANK_SIZE
    add     x9, x9, x10
    ldr     x10, =0x0101010101010101
    and     x2, x2, #0xFF
    mul     x10, x10, x2
1:  stp     x10, x10, [x9], #16
    subs    x1, x1, #16
    b.ne    1b
    ret

vflash_cfi:
    .byte   FLASH_CFI_BYTES
    .balign 4

// ---------------------------------------------------------------------------------------------
// vm_system_reset(x0 = VM, x1 = the calling vCPU): PSCI SYSTEM_RESET. A VM started from
// firmware is reset as QEMU resets the board under KVM: every vCPU off but vCPU 0, which starts
// again at the firmware's first word (IPA 0, EL1, x0 = 0) with the architectural reset state;
// its virtual GIC, timers and PL011 reset; the flash back in read-array mode; the device tree
// written again at the start of its RAM (a ROM blob QEMU copies again); RAM and flash contents
// kept. Any other VM is stopped (the reset reported), as before. The other vCPUs are expected
// to be parked (off, or blocked in WFI, as Linux and U-Boot leave them before a reset): one
// running at this moment on another PE is switched off, but its registers, saved at its next
// exit, are not reset — and if it is vCPU 0, that save undoes its reset.
    .global vm_system_reset
    .type   vm_system_reset, %function
vm_system_reset:
    enter_big
    mov     x19, x0
    mov     x20, x1
    ldr     x1, [x19, #VM_FLASH_PA]
    cbnz    x1, 1f
    mov     x1, #VM_STATE_RESET
    bl      vm_stop
    leave_big
1:  mov     x0, x20                     // the caller's state is in memory from here on
    bl      vcpu_put
    mov     x0, x20
    bl      vcpu_forget_fp
    add     x21, x19, #VM_LOCK
    spin_lock x21, x1, w2
    ldr     x9, [x19, #VM_STATE]
    cmp     x9, #VM_STATE_RUNNING
    b.ne    9f                          // stopped meanwhile by another vCPU
    ldr     x22, [x19, #VM_VCPUS]       // every vCPU off; their redistributors and CPU
    ldr     x23, [x19, #VM_NR_VCPUS]    // interfaces at reset
    mov     x24, x22
2:  str     xzr, [x24, #VCPU_POWER]
    mov     x0, x24
    bl      vgic_vcpu_init
    add     x24, x24, #VCPU_SIZE
    subs    x23, x23, #1
    b.ne    2b
    mov     x0, x19                     // the distributor at reset: everything but its lock
    bl      vm_vgicd                    // and VM
    add     x23, x0, #VGICD_LOCK
    spin_lock x23, x1, w2
    add     x1, x0, #VGICD_CTLR
    add     x2, x0, #VGICD_SIZE
3:  str     xzr, [x1], #8
    cmp     x1, x2
    b.lo    3b
    spin_unlock x23
    mov     x0, x19                     // the PL011 at reset (its receive side given back)
    bl      vpl011_reset
    mov     x24, #0                     // both banks: read-array mode, mapped
4:  add     x9, x19, #VM_FL_CMD
    str     xzr, [x9, x24, lsl #3]
    add     x9, x19, #VM_FL_WCYCLE
    str     xzr, [x9, x24, lsl #3]
    add     x9, x19, #VM_FL_STATUS
    mov     x10, #FLASH_SR_READY
    str     x10, [x9, x24, lsl #3]
    mov     x0, x19
    mov     x1, x24
    mov     x2, #1
    bl      vflash_fill
    add     x24, x24, #1
    cmp     x24, #2
    b.lo    4b
    mov     x0, x19                     // no TLB entry of the old VM survives
    bl      s2_flush_vm
    ldr     x0, [x19, #VM_PA_BASE]      // the device tree again, from the private copy
    ldr     x1, [x19, #VM_DTB_COPY]
    ldr     x2, [x19, #VM_DTB_SIZE]
5:  cbz     x2, 6f
    ldrb    w3, [x1], #1
    strb    w3, [x0], #1
    sub     x2, x2, #1
    b       5b
6:  mov     x0, x22                     // vCPU 0 at the firmware's entry
    ldr     x1, [x19, #VM_ENTRY]
    mov     x2, #0
    bl      vcpu_reset
    mov     x1, #VCPU_RUNNABLE
    str     x1, [x22, #VCPU_POWER]
    ldr     x9, [x19, #VM_RESETS]
    add     x9, x9, #1
    str     x9, [x19, #VM_RESETS]
    spin_unlock x21
    bl      log_begin
    log_s   "VM "
    mov     x0, x19
    bl      log_vm_name
    log_s   " reset: its firmware starts again"
    bl      log_end
    mov     x0, x22                     // vCPU 0's PE may be asleep; other vCPUs leave
    bl      vgic_kick_vcpu
    bl      gic_kick_others
    leave_big
9:  spin_unlock x21
    leave_big
    .size   vm_system_reset, . - vm_system_reset
