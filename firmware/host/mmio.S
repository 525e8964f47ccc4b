// Stage-2 data aborts: emulated devices, or a fault for the guest (KVM: io_mem_abort() in
// arch/arm64/kvm/mmio.c and kvm_handle_guest_abort() in mmu.c).
//
// The faulting IPA is HPFAR_EL2.FIPA (IPA[47:12] in bits [39:4]) << 8 | FAR_EL2[11:0]. When
// ESR_EL2.ISV = 1 the ISS describes the access completely (Arm ARM D17.2.37, "ISS encoding for
// an exception from a Data Abort"):
//   SAS [23:22] size 1 << SAS bytes   SSE [21] sign-extend a load   SRT [20:16] the register
//   SF  [15] 64-bit register          WnR [6] write                 DFSC [5:0] fault status
// so the hypervisor does the access on the device's behalf and skips the instruction; it never
// decodes guest instructions. An access it cannot emulate (no device there, ISV = 0 as for
// LDP/STP or writeback forms, a fault that is not a translation fault) gets a synchronous
// external abort injected, with one line on the console saying why.
//
// Devices: the virtual PL011 (UART_BASE: its output goes to the console tagged with the VM's
// name), the doorbell (DOORBELL_BASE), and the VM's GICv3 distributor and redistributors
// (GICD_BASE, GICR_BASE: host/vgic.S).

// mmio_or_abort(x0 = vCPU)
    .global mmio_or_abort
    .type   mmio_or_abort, %function
mmio_or_abort:
    enter
    mov     x19, x0
    ldr     x20, [x19, #VCPU_FAULT_ESR]
    ldr     x1, [x19, #VCPU_FAULT_HPFAR]
    ldr     x2, [x19, #VCPU_FAULT_FAR]
    ubfx    x1, x1, #4, #36             // FIPA
    lsl     x1, x1, #12
    bfxil   x1, x2, #0, #12
    mov     x21, x1                     // x21 = IPA
    and     x1, x20, #0x3C              // DFSC 0b0001xx: translation fault, any level
    cmp     x1, #0x04
    b.eq    0f
    cmp     x1, #0x0C                   // DFSC 0b0011xx: permission fault: only a write to
    b.ne    abort                       // a flash bank mapped read-only (a command); access
    ldr     x1, =FLASH_SIZE             // flag, external: not ours. (HPFAR_EL2 holds the IPA:
    cmp     x21, x1                     // the board records it for every stage-2 fault; KVM
    b.hs    abort                       // recomputes it where the Arm ARM leaves it UNKNOWN.)
0:  tbnz    x20, #7, abort              // S1PTW: the guest's own page tables are outside its RAM
    ldr     x1, =FLASH_SIZE             // the flash window: a VM with a bios only
    cmp     x21, x1
    b.hs    7f
    ldr     x1, [x19, #VCPU_VM]
    ldr     x1, [x1, #VM_FLASH_PA]
    cbz     x1, abort
    adr     x22, flash_device
    b       2f
7:  adr     x22, mmio_devices           // find the device: {base, size, handler} records
1:  ldr     x1, [x22]
    cbz     x1, abort
    ldr     x2, [x22, #8]
    sub     x3, x21, x1                 // offset in the device
    cmp     x3, x2
    b.lo    2f
    add     x22, x22, #24
    b       1b
2:  tbz     x20, #24, no_syndrome       // ISV = 0: nothing to emulate the access from
    mov     x0, x19
    mov     x1, #STAT_MMIO
    bl      count_exit
    mov     x0, x19
    bl      skip_instruction
    ldr     x8, [x22, #16]              // the device's handler
    mov     x4, x19
    ldr     x0, [x19, #VCPU_VM]
    ldr     x1, [x22]
    sub     x1, x21, x1                 // x1 = offset in the device
    ubfx    x2, x20, #22, #2            // SAS
    ubfx    x9, x20, #16, #5            // SRT
    tbz     x20, #6, 3f
    ctxt_get_reg x3, x19, x9            // write: the register's value, cut to the access size
    mov     x6, #8
    lsl     x6, x6, x2                  // x6 = access size in bits
    cmp     x6, #64
    b.eq    4f
    mov     x5, #1
    lsl     x5, x5, x6
    sub     x5, x5, #1
    and     x3, x3, x5
4:  mov     x5, #1                      // x5 = is_write
    blr     x8
    leave
3:  mov     x5, #0                      // read
    mov     x3, #0
    blr     x8                          // x0 = the value read, at most the access size
    ubfx    x9, x20, #16, #5            // SRT
    tbz     x20, #21, 5f                // SSE: sign-extend from 8 << SAS bits
    ubfx    x2, x20, #22, #2
    mov     x6, #8
    lsl     x6, x6, x2
    mov     x7, #64
    sub     x6, x7, x6
    lsl     x0, x0, x6
    asr     x0, x0, x6
5:  tbnz    x20, #15, 6f                // SF = 0: a W register, upper half zero
    mov     w0, w0
6:  ctxt_set_reg x19, x9, x0
    leave

no_syndrome:
    mov     x0, x19
    mov     x1, #STAT_DABT
    bl      count_exit
    mov     x0, x19
    mov     x1, #2
    bl      report_fault
    mov     x0, x19
    bl      inject_dabt
    leave

abort:
    mov     x0, x19
    mov     x1, #STAT_DABT
    bl      count_exit
    mov     x0, x19
    mov     x1, #1
    bl      report_fault
    mov     x0, x19
    bl      inject_dabt
    leave

    .balign 8
mmio_devices:                           // {IPA base, size, handler(x0 = VM, x1 = offset,
    .quad   UART_BASE, UART_SIZE, vpl011_access      // x2 = SAS, x3 = value, x4 = vCPU,
    .quad   DOORBELL_BASE, DOORBELL_SIZE, doorbell_access    // x5 = is_write)}
    .quad   GICD_BASE, GICD_SIZE, vgicd_access      // host/vgic.S
    .quad   GICR_BASE, MAX_VCPUS_PER_VM * GICR_STRIDE, vgicr_access
    .quad   0
flash_device:                           // (base 0 ends the list above: on its own)
    .quad   FLASH_BASE, FLASH_SIZE, vflash_access   // host/vflash.S
    .size   mmio_or_abort, . - mmio_or_abort

// report_fault(x0 = vCPU, x1 = 0 fetch | 1 data access | 2 device access without syndrome)
    .global report_fault
    .type   report_fault, %function
report_fault:
    enter
    mov     x19, x0
    mov     x20, x1
    bl      log_begin
    mov     x0, x19
    bl      log_vcpu
    cbnz    x20, 1f
    log_s   ": instruction fetch from IPA 0x"
    b       2f
1:  ldr     x1, [x19, #VCPU_FAULT_ESR]
    tbnz    x1, #6, 3f
    log_s   ": read of IPA 0x"
    b       2f
3:  log_s   ": write to IPA 0x"
2:  ldr     x1, [x19, #VCPU_FAULT_HPFAR]
    ldr     x2, [x19, #VCPU_FAULT_FAR]
    ubfx    x1, x1, #4, #36
    lsl     x0, x1, #12
    bfxil   x0, x2, #0, #12
    bl      log_hex
    cmp     x20, #2
    b.ne    4f
    log_s   " that the hypervisor cannot emulate (no instruction syndrome, ISV = 0)"
    b       5f
4:  log_s   ", outside its memory and devices"
5:  log_s   " at pc 0x"
    ldr     x0, [x19, #CTXT_PC]
    bl      log_hex
    log_s   ": abort injected"
    bl      log_end
    leave

// ---------------------------------------------------------------------------------------------
// The virtual PL011 (ARM PrimeCell UART, DDI 0183). Transmit: always ready; bytes written to
// UARTDR collect in the VM's line buffer; each complete line goes to the physical console as
// "[name] line". Receive: the VM that has the console input (VM_F_CONSOLE_IN, console_in_vm)
// reads the board's UART through its own: UARTFR.RXFE and UARTDR are the physical UART's
// (what is typed on armvirt's stdin), the receive interrupt is the physical one forwarded. The
// physical UART's receive interrupt (UART_INTID, routed to the PE of the VM's vCPU 0) is
// enabled exactly while the VM's UARTRIS.RXRIS is clear: when it fires (vpl011_rx_irq), it is
// masked, RXRIS is set and, if the VM's UARTIMSC lets it through, UART_INTID of the VM's GIC
// raised; RXRIS clears when the VM reads UARTDR until the FIFO is empty, or writes UARTICR,
// and the physical interrupt is enabled again (at once again if more came meanwhile).
// Other VMs' receive FIFOs are always empty. A line is sent to the console when it is complete;
// what the guest printed of one goes out as a partial line when the guest waits for input: it
// reads UARTFR twice without transmitting (polling), or every vCPU of the VM blocks in WFI
// (host/run.S). The other registers keep what the guest writes (UART_REGS) so that drivers
// probing and configuring the UART see a PL011; the ID registers read as QEMU's PL011.
#define UARTDR      0x000
#define UARTFR      0x018
#define UARTIBRD    0x024
#define UARTFBRD    0x028
#define UARTLCR_H   0x02C
#define UARTCR      0x030
#define UARTIFLS    0x034
#define UARTIMSC    0x038
#define UARTRIS     0x03C
#define UARTMIS     0x040
#define UARTICR     0x044
#define UARTDMACR   0x048
#define UARTFR_RXFE (1 << 4)
#define UARTFR_TXFE (1 << 7)
#define UART_INT_RX (1 << 4)            // RXRIS/RXIM
#define VM_UART_IMSC (VM_UART_REGS + 5 * 8)
#define VM_UART_RIS  (VM_UART_REGS + 6 * 8)

// vpl011_access(x0 = VM, x1 = offset, x2 = SAS, x3 = value, x5 = is_write) -> x0 (reads)
vpl011_access:
    enter
    mov     x19, x0
    mov     x20, x1
    mov     x21, x3
    add     x22, x19, #VM_LOCK
    spin_lock x22, x9, w10
    cbz     x5, 20f
    cmp     x20, #UARTDR                // ---- writes
    b.ne    1f
    str     xzr, [x19, #VM_UART_POLLS]
    mov     x0, x19
    and     x1, x21, #0xFF
    bl      vm_console_putc
    b       99f
1:  adr     x9, uart_reg_offsets        // a stored register?
    mov     x10, #0
2:  ldrh    w11, [x9, x10, lsl #1]
    cmp     x11, #0xFFF
    b.eq    3f
    cmp     x11, x20
    b.eq    4f
    add     x10, x10, #1
    b       2b
4:  add     x9, x19, #VM_UART_REGS
    str     x21, [x9, x10, lsl #3]
    cmp     x20, #UARTIMSC              // unmasking a raised interrupt raises it
    b.ne    99f
    ldr     x9, [x19, #VM_UART_RIS]
    tst     x9, x21
    b.eq    99f
    spin_unlock x22
    mov     x0, x19
    mov     x1, #UART_INTID
    bl      vgic_raise_spi
    leave
3:  cmp     x20, #UARTICR               // interrupt clear: RIS &= ~value
    b.ne    99f
    ldr     x9, [x19, #VM_UART_RIS]
    bic     x9, x9, x21
    str     x9, [x19, #VM_UART_RIS]
    tst     x21, #UART_INT_RX
    b.eq    99f
    mov     x0, x19
    bl      vpl011_rx_rearm
    b       99f
20: mov     x0, #0                      // ---- reads
    cmp     x20, #UARTFR
    b.ne    1f
    ldr     x9, [x19, #VM_UART_POLLS]   // a second status read with nothing sent between:
    add     x9, x9, #1                  // the guest polls for input, and what it printed of
    str     x9, [x19, #VM_UART_POLLS]   // a line (a prompt) must show now
    cmp     x9, #2
    b.ne    7f
    mov     x0, x19
    bl      vm_console_flush
7:  mov     x0, #UARTFR_TXFE
    bl      vpl011_phys_rx              // x9 = the board's UART, or 0 for no input
    mov     x10, #UARTFR_RXFE
    cbz     x9, 5f
    ldr     w10, [x9, #UARTFR]
    and     x10, x10, #UARTFR_RXFE
5:  orr     x0, x0, x10
    b       99f
1:  cmp     x20, #UARTDR
    b.ne    1f
    bl      vpl011_phys_rx
    cbz     x9, 99f                     // (x0 = 0)
    ldr     w10, [x9, #UARTFR]
    tbnz    w10, #4, 99f                // nothing received: 0
    ldr     w21, [x9, #UARTDR]          // the byte (and its error bits)
    ldr     w10, [x9, #UARTFR]
    tbz     w10, #4, 6f
    ldr     x10, [x19, #VM_UART_RIS]    // the FIFO is empty: RXRIS clears
    bic     x10, x10, #UART_INT_RX
    str     x10, [x19, #VM_UART_RIS]
    mov     x0, x19
    bl      vpl011_rx_rearm
6:  mov     x0, x21
    b       99f
1:  cmp     x20, #UARTMIS
    b.ne    1f
    ldr     x0, [x19, #VM_UART_RIS]
    ldr     x9, [x19, #VM_UART_IMSC]
    and     x0, x0, x9
    b       99f
1:  cmp     x20, #0xFE0                 // PeriphID0..3, PCellID0..3
    b.lo    2f
    sub     x9, x20, #0xFE0
    lsr     x9, x9, #2
    adr     x10, uart_ids
    ldrb    w0, [x10, x9]
    b       99f
2:  adr     x9, uart_reg_offsets
    mov     x10, #0
3:  ldrh    w11, [x9, x10, lsl #1]
    cmp     x11, #0xFFF
    b.eq    99f                         // anything else reads as zero
    cmp     x11, x20
    b.eq    4f
    add     x10, x10, #1
    b       3b
4:  add     x9, x19, #VM_UART_REGS
    ldr     x0, [x9, x10, lsl #3]
99: spin_unlock x22
    leave

// vpl011_phys_rx(x19 = VM) -> x9 = UART_BASE if this VM has the console input, else 0.
// Keeps x0; clobbers x9.
vpl011_phys_rx:
    ldr     x9, =console_in_vm
    ldr     x9, [x9]
    cmp     x9, x19
    ldr     x9, =UART_BASE
    csel    x9, x9, xzr, eq
    ret

// vpl011_rx_rearm(x0 = VM, its lock held): RXRIS is clear; if the VM has the console input,
// the physical receive interrupt is enabled again. Clobbers x9, x10.
vpl011_rx_rearm:
    ldr     x9, =console_in_vm
    ldr     x9, [x9]
    cmp     x9, x0
    b.ne    1f
    ldr     x9, =UART_BASE
    mov     w10, #UART_INT_RX
    str     w10, [x9, #UARTIMSC]
1:  ret

// vpl011_reset(x0 = VM, its lock held): the PL011's reset values (UARTCR TXE | RXE, UARTIFLS
// 0x12, the rest 0), the receive interrupt given back to the physical UART. Clobbers x0..x10.
    .global vpl011_reset
    .type   vpl011_reset, %function
vpl011_reset:
    add     x1, x0, #VM_UART_REGS
    mov     x2, #8
1:  str     xzr, [x1], #8
    subs    x2, x2, #1
    b.ne    1b
    mov     x1, #0x300
    str     x1, [x0, #VM_UART_REGS]
    mov     x1, #0x12
    str     x1, [x0, #VM_UART_REGS + 4 * 8]
    b       vpl011_rx_rearm
    .size   vpl011_reset, . - vpl011_reset

// vpl011_rx_irq: the board's UART raised its receive interrupt (irq_drain, lib/gic.S): it goes
// to the console input VM's PL011 (see above). A FIFO found empty means the VM has read it
// since: nothing to do.
    .global vpl011_rx_irq
    .type   vpl011_rx_irq, %function
vpl011_rx_irq:
    enter
    ldr     x19, =console_in_vm
    ldr     x19, [x19]
    cbz     x19, 9f
    add     x20, x19, #VM_LOCK
    spin_lock x20, x9, w10
    mov     x21, #0
    ldr     x9, =UART_BASE
    ldr     w10, [x9, #UARTFR]
    tbnz    w10, #4, 1f
    str     wzr, [x9, #UARTIMSC]        // masked until RXRIS clears again
    ldr     x10, [x19, #VM_UART_RIS]
    orr     x10, x10, #UART_INT_RX
    str     x10, [x19, #VM_UART_RIS]
    ldr     x11, [x19, #VM_UART_IMSC]
    tst     x10, x11
    cset    x21, ne
1:  spin_unlock x20
    cbz     x21, 9f
    mov     x0, x19
    mov     x1, #UART_INTID
    bl      vgic_raise_spi
9:  leave
    .size   vpl011_rx_irq, . - vpl011_rx_irq

// vpl011_console_init (PE 0, boot, after the VMs are created): the first VM with
// VM_F_CONSOLE_IN gets the console input: the board's distributor delivers the UART's interrupt
// (Group 1, priority 0, routed to the PE of the VM's vCPU 0) and the UART raises it on receive.
    .global vpl011_console_init
    .type   vpl011_console_init, %function
vpl011_console_init:
    ldr     x0, =HV_MANIFEST
    ldr     x1, [x0, #MAN_NR_VMS]
    add     x2, x0, #MAN_VMS
1:  cbz     x1, 9f
    ldr     x3, [x2, #VM_FLAGS]
    tst     x3, #VM_F_CONSOLE_IN
    b.ne    2f
    add     x2, x2, #VM_SIZE
    sub     x1, x1, #1
    b       1b
2:  ldr     x3, =console_in_vm
    str     x2, [x3]
    ldr     x4, =GICD_BASE
    ldrb    w5, [x2, #VM_PIN]           // GICD_IROUTER<n>: Aff0 = that PE, IRM = 0
    ldr     x6, =(0x6000 + 8 * UART_INTID)
    add     x6, x4, x6
    str     w5, [x6]
    str     wzr, [x6, #4]
    ldr     w6, [x4, #0x084]            // GICD_IGROUPR1: Group 1
    orr     w6, w6, #(1 << (UART_INTID - 32))
    str     w6, [x4, #0x084]
    strb    wzr, [x4, #(0x400 + UART_INTID)]    // GICD_IPRIORITYR: 0
    mov     w6, #(1 << (UART_INTID - 32))
    str     w6, [x4, #0x104]            // GICD_ISENABLER1
    ldr     x4, =UART_BASE
    mov     w6, #UART_INT_RX
    str     w6, [x4, #UARTIMSC]
9:  ret
    .size   vpl011_console_init, . - vpl011_console_init

    .balign 2
uart_reg_offsets:                       // the order of VM_UART_REGS
    .hword  UARTCR, UARTLCR_H, UARTIBRD, UARTFBRD, UARTIFLS, UARTIMSC, UARTRIS, UARTDMACR, 0xFFF
uart_ids:
    .byte   0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1
    .balign 4

// vm_console_putc(x0 = VM, w1 = byte): the VM's lock is held.
vm_console_putc:
    enter
    mov     x19, x0
    cmp     w1, #10
    b.eq    2f
    ldr     x2, [x19, #VM_CON_LEN]
    add     x3, x19, #VM_CON_BUF
    strb    w1, [x3, x2]
    add     x2, x2, #1
    str     x2, [x19, #VM_CON_LEN]
    cmp     x2, #CONSOLE_LINE
    b.lo    1f
    mov     x0, x19                     // a full buffer goes out as a partial line
    mov     x1, #1
    bl      vm_console_emit
1:  leave
2:  mov     x0, x19
    mov     x1, #0
    bl      vm_console_emit
    leave
    .size   report_fault, . - report_fault

// vm_console_flush(x0 = VM): a last partial line, if any (when the VM stops).
    .global vm_console_flush
    .type   vm_console_flush, %function
vm_console_flush:
    ldr     x1, [x0, #VM_CON_LEN]
    cbz     x1, 1f
    mov     x1, #1
    b       vm_console_emit
1:  ret

// vm_console_emit(x0 = VM, x1 = 1 if partial): "[name] text\n", or "[name]~ text\n" for a
// line whose newline is not the guest's (tells the console reader to drop it).
vm_console_emit:
    enter
    mov     x19, x0
    mov     x20, x1
    bl      console_lock_take
    mov     w0, #'['
    bl      uart_putc
    add     x0, x19, #VM_NAME
    bl      uart_puts
    mov     w0, #']'
    bl      uart_putc
    cbz     x20, 1f
    mov     w0, #'~'
    bl      uart_putc
1:  mov     w0, #' '
    bl      uart_putc
    add     x21, x19, #VM_CON_BUF
    ldr     x22, [x19, #VM_CON_LEN]
2:  cbz     x22, 3f
    ldrb    w0, [x21], #1
    bl      uart_putc
    sub     x22, x22, #1
    b       2b
3:  mov     w0, #10
    bl      uart_putc
    str     xzr, [x19, #VM_CON_LEN]
    bl      console_lock_release
    leave

// ---------------------------------------------------------------------------------------------
// The doorbell: a guest's write to DOORBELL_RING is a notification to the host-side backend
// (here, this handler), which records the value, counts it and notes when it saw it: in the
// guest's own time base (CNTPCT_EL0 - CNTVOFF_EL2, what the guest's CNTVCT_EL0 read then) and
// in the PE's cycle counter (PMCCNTR_EL0, which the guest may read too): the I/O latency out
// benchmark is SEEN minus the guest's reading just before the write. A write to DOORBELL_RAISE
// makes the backend signal the guest back: it notes PMCCNTR_EL0 and raises the doorbell's
// interrupt (DOORBELL_INTID, an SPI of the VM's GIC): the I/O latency in benchmark is the
// guest handler's PMCCNTR_EL0 minus that.
doorbell_access:
    enter
    mov     x19, x0
    mov     x20, x1
    mov     x21, x3
    mov     x22, #0
    add     x9, x19, #VM_LOCK
    spin_lock x9, x10, w11
    cbz     x5, 20f
    cmp     x20, #DOORBELL_RING
    b.ne    1f
    str     x21, [x19, #VM_DB_VALUE]
    ldr     x10, [x19, #VM_DB_COUNT]
    add     x10, x10, #1
    str     x10, [x19, #VM_DB_COUNT]
    mrs     x10, cntpct_el0
    ldr     x11, [x19, #VM_CNTVOFF]
    sub     x10, x10, x11
    str     x10, [x19, #VM_DB_SEEN]
    mrs     x10, pmccntr_el0
    str     x10, [x19, #VM_DB_SEEN_PMC]
    b       9f
1:  cmp     x20, #DOORBELL_RAISE
    b.ne    9f
    mrs     x10, pmccntr_el0
    str     x10, [x19, #VM_DB_RAISED_PMC]
    mov     x22, #1                     // raise it once the VM's lock is released
    b       9f
20: mov     x0, #0                      // reads (anything else reads as zero)
    cmp     x20, #DOORBELL_RING
    b.ne    21f
    ldr     x0, [x19, #VM_DB_VALUE]
21: cmp     x20, #DOORBELL_COUNT
    b.ne    22f
    ldr     x0, [x19, #VM_DB_COUNT]
22: cmp     x20, #DOORBELL_SEEN
    b.ne    23f
    ldr     x0, [x19, #VM_DB_SEEN]
23: cmp     x20, #DOORBELL_SEEN_PMC
    b.ne    24f
    ldr     x0, [x19, #VM_DB_SEEN_PMC]
24: cmp     x20, #DOORBELL_RAISE
    b.ne    9f
    ldr     x0, [x19, #VM_DB_RAISED_PMC]
9:  add     x9, x19, #VM_LOCK
    spin_unlock x9
    cbz     x22, 10f
    mov     x21, x0
    mov     x0, x19
    mov     x1, #DOORBELL_INTID
    bl      vgic_raise_spi              // host/vgic.S
    mov     x0, x21
10: leave
    .size   vm_console_flush, . - vm_console_flush
