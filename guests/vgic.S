// vgic: GICv3 virtualization seen from a bare hypervisor at EL2 and its guest at EL1.
//
// EL2 owns the physical GIC (HCR_EL2.IMO/FMO) and gives the guest virtual interrupts through
// the list registers; the guest acknowledges and completes them through the ICV_ view of the
// ICC_ registers, without traps. Checked, in order: the priority order of three list
// registers and the virtual running priority; the EOI maintenance interrupt (PPI 25) of a
// list register with its EOI bit; a HW = 1 list register whose EOI deactivates the physical
// SGI behind it; ICH_HCR_EL2.TALL1 and HCR_EL2.IMO traps of EL1 accesses; an EOI with no list
// register counted in EOIcount and signalled by LRENP; the EL2 physical timer (PPI 26).
// Only timing-independent values are printed: the output is the same on armvirt and on
// qemu-system-aarch64 -M virt,gic-version=3,virtualization=on -cpu cortex-a76 (test_vgic.py).
//
// Run: armvirt run --el 2 build/guests/vgic.elf

#define HCR_RW      (1 << 31)
#define HCR_IMO     (1 << 4)
#define HCR_FMO     (1 << 3)
#define ICH_EN      1
#define ICH_LRENPIE (1 << 2)
#define ICH_TALL1   (1 << 12)
#define LR_PENDING  (1 << 62)
#define LR_HW       (1 << 61)
#define LR_GROUP1   (1 << 60)
#define LR_EOI      (1 << 41)
#define GICR_SGI    0x10000
#define SPSR_EL1H   0x5                 // EL1h, DAIF clear

    .macro  lr_value reg, intid, prio, extra
    ldr     \reg, =(LR_PENDING | LR_GROUP1 | (\prio << 48) | \extra | \intid)
    .endm

    .macro  print_str label
    adr     x0, \label
    bl      puts
    .endm

    .macro  print_hex reg
    mov     x0, \reg
    bl      puthex
    .endm

    .macro  newline
    mov     w0, #'\n'
    bl      putc
    .endm

    .global _start
    .type   _start, %function
_start:
    ldr     x0, =stack_top
    mov     sp, x0
    adr     x0, vectors_el2
    msr     vbar_el2, x0
    adr     x0, vectors_el1
    msr     vbar_el1, x0
    ldr     x0, =guest_stack_top
    msr     sp_el1, x0
    // the physical GIC: everything Group 1; SGI 3, PPIs 25 (maintenance) and 26 (CNTHP)
    ldr     x1, =GICD_BASE
    mov     w2, #2
    str     w2, [x1]
    ldr     x1, =GICR_BASE
    str     wzr, [x1, #0x14]
    add     x1, x1, #GICR_SGI
    mov     w2, #-1
    str     w2, [x1, #0x80]
    ldr     w2, =((1 << 3) | (1 << 25) | (1 << 26))
    str     w2, [x1, #0x100]
    mov     x0, #0xff
    msr     icc_pmr_el1, x0
    mov     x0, #1
    msr     icc_igrpen1_el1, x0
    mov     x0, #2                      // EOImode 1: EL2 drops priority, deactivates apart
    msr     icc_ctlr_el1, x0
    ldr     x0, =(HCR_RW | HCR_IMO | HCR_FMO)
    msr     hcr_el2, x0
    ldr     x0, =((0xf8 << 24) | 2)     // VPMR 0xF8, VENG1
    msr     ich_vmcr_el2, x0
    mov     x0, #ICH_EN
    msr     ich_hcr_el2, x0
    isb

    print_str s_title
    print_str s_vtr
    mrs     x0, ich_vtr_el2
    bl      puthex
    newline

    // ---- 1: three list registers, taken by priority; 42 asks for an EOI maintenance IRQ
    lr_value x0, 40, 0xa0, 0
    msr     ich_lr0_el2, x0
    lr_value x0, 41, 0x80, 0
    msr     ich_lr1_el2, x0
    lr_value x0, 42, 0xc0, LR_EOI
    msr     ich_lr2_el2, x0
    adr     x0, guest_take3
    bl      enter_guest
    print_str s_took
    ldr     x19, =log
    mov     x20, #0
1:  ldr     x0, [x19, x20, lsl #3]
    bl      putdec
    mov     w0, #' '
    bl      putc
    add     x20, x20, #1
    cmp     x20, #6
    b.lo    1b
    newline
    print_str s_maint
    ldr     x19, =maint_log
    ldr     x0, [x19]                   // the INTID EL2 acknowledged
    bl      putdec
    print_str s_misr
    ldr     x0, [x19, #8]
    bl      puthex
    print_str s_eisr
    ldr     x0, [x19, #16]
    bl      puthex
    print_str s_elrsr
    mrs     x0, s3_4_c12_c11_5          // ICH_ELRSR_EL2
    bl      puthex
    newline

    // ---- 2: a HW list register: the guest's EOI deactivates the physical SGI 3
    ldr     x0, =((3 << 24) | 1)
    msr     icc_sgi1r_el1, x0           // to ourselves (no trap at EL2)
    isb
    mrs     x21, icc_iar1_el1           // 3, acknowledged by the hypervisor ...
    msr     icc_eoir1_el1, x21          // ... which drops priority but leaves it active
    bl      sgi3_active
    mov     x22, x0
    lr_value x0, 3, 0xa0, (LR_HW | (3 << 32))
    msr     ich_lr0_el2, x0
    ldr     x0, =log_count
    str     xzr, [x0]
    adr     x0, guest_take1
    bl      enter_guest
    print_str s_hw
    mov     x0, x21
    bl      putdec
    print_str s_active
    mov     x0, x22
    bl      putdec
    print_str s_after
    bl      sgi3_active
    bl      putdec
    newline

    // ---- 3: traps of EL1 accesses
    mov     x0, #(ICH_EN | ICH_TALL1)
    msr     ich_hcr_el2, x0
    adr     x0, guest_traps
    bl      enter_guest
    mov     x0, #ICH_EN
    msr     ich_hcr_el2, x0
    print_str s_traps
    ldr     x19, =trap_log
    ldr     x0, [x19]
    bl      puthex
    mov     w0, #' '
    bl      putc
    ldr     x0, [x19, #8]
    bl      puthex
    newline

    // ---- 4: an EOI with no list register: EOIcount and LRENP
    mov     x0, #(1 << (0x80 >> 3))     // as if the guest had an interrupt active at 0x80
    msr     ich_ap1r0_el2, x0
    mov     x0, #(ICH_EN | ICH_LRENPIE)
    msr     ich_hcr_el2, x0
    adr     x0, guest_eoi99
    bl      enter_guest
    print_str s_lrenp
    ldr     x19, =maint_log
    ldr     x0, [x19, #8]
    bl      puthex
    print_str s_eoicount
    ldr     x0, [x19, #24]
    lsr     x0, x0, #27
    bl      putdec
    newline

    // ---- 5: the EL2 physical timer
    mov     x0, #1000
    msr     cnthp_tval_el2, x0
    mov     x0, #1
    msr     cnthp_ctl_el2, x0
    wfi                                 // masked at EL2: wakes, not taken
    mrs     x0, cnthp_ctl_el2
    and     x19, x0, #4                 // ISTATUS
    mrs     x20, icc_iar1_el1
    msr     cnthp_ctl_el2, xzr
    msr     icc_eoir1_el1, x20
    msr     icc_dir_el1, x20
    print_str s_cnthp
    mov     x0, x20
    bl      putdec
    print_str s_istatus
    lsr     x0, x19, #2
    bl      putdec
    newline

    print_str s_done
    ldr     x0, =PSCI_SYSTEM_OFF
    smc     #0
    b       .

// ---------------------------------------------------------------------------- EL2 helpers
enter_guest:                            // x0: EL1 entry; returns when the guest does HVC #0
    ldr     x1, =resume
    str     x30, [x1]
    msr     elr_el2, x0
    mov     x0, #SPSR_EL1H
    msr     spsr_el2, x0
    ldr     x0, =guest_stack_top
    msr     sp_el1, x0
    eret

sgi3_active:
    ldr     x1, =(GICR_BASE + GICR_SGI + 0x300)
    ldr     w0, [x1]
    ubfx    x0, x0, #3, #1
    ret

el2_sync:                               // from EL1: HVC #0 = back to the hypervisor,
    mrs     x9, esr_el2                 // a trapped access = log its syndrome and skip it
    lsr     x10, x9, #26
    cmp     x10, #0x16
    b.ne    1f
    ldr     x1, =resume
    ldr     x30, [x1]
    ldr     x0, =stack_top
    mov     sp, x0
    ret
1:  ldr     x10, =trap_count
    ldr     x11, [x10]
    ldr     x12, =trap_log
    str     x9, [x12, x11, lsl #3]
    add     x11, x11, #1
    str     x11, [x10]
    mrs     x9, elr_el2
    add     x9, x9, #4
    msr     elr_el2, x9
    eret

el2_irq:                                // physical IRQs while the guest runs: maintenance
    stp     x0, x1, [sp, #-16]!
    mrs     x0, icc_iar1_el1
    ldr     x1, =maint_log
    str     x0, [x1]
    mrs     x0, ich_misr_el2
    str     x0, [x1, #8]
    mrs     x0, ich_eisr_el2
    str     x0, [x1, #16]
    mrs     x0, ich_hcr_el2
    str     x0, [x1, #24]
    msr     ich_lr2_el2, xzr            // retire the EOIed list register: EISR clears
    and     x0, x0, #~ICH_LRENPIE       // and no more LRENP
    msr     ich_hcr_el2, x0
    ldr     x0, [x1]
    msr     icc_eoir1_el1, x0
    msr     icc_dir_el1, x0
    ldp     x0, x1, [sp], #16
    eret

// ---------------------------------------------------------------------------- the guest (EL1)
guest_take3:                            // take three virtual interrupts, then HVC
    ldr     x1, =log_count
1:  msr     daifset, #2
    ldr     x2, [x1]
    cmp     x2, #3
    b.hs    2f
    wfi
    msr     daifclr, #2
    b       1b
2:  hvc     #0

guest_take1:                            // (EL2 zeroed log_count: the IRQ may come at once)
    ldr     x1, =log_count
1:  msr     daifset, #2
    ldr     x2, [x1]
    cbnz    x2, 2f
    wfi
    msr     daifclr, #2
    b       1b
2:  hvc     #0

guest_traps:
    msr     daifset, #2
    mrs     x3, icc_iar1_el1            // TALL1: trapped
    ldr     x3, =((1 << 24) | 1)
    msr     icc_sgi1r_el1, x3           // IMO: trapped
    hvc     #0

guest_eoi99:
    msr     daifclr, #2
    mov     x3, #99
    msr     icc_eoir1_el1, x3           // no list register holds 99: EOIcount
    nop
    hvc     #0

guest_irq:                              // ICV_IAR1_EL1 / ICV_RPR_EL1 / ICV_EOIR1_EL1
    stp     x0, x1, [sp, #-32]!
    stp     x2, x3, [sp, #16]
    mrs     x0, icc_iar1_el1
    mrs     x1, icc_rpr_el1
    ldr     x2, =log_count
    ldr     x3, [x2]
    add     x3, x3, #1
    str     x3, [x2]
    ldr     x2, =log
    sub     x3, x3, #1
    lsl     x3, x3, #4
    add     x2, x2, x3
    stp     x0, x1, [x2]
    msr     icc_eoir1_el1, x0
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp], #32
    eret

unexpected:
    print_str s_unexpected
    mrs     x0, esr_el2
    bl      puthex
    ldr     x0, =PSCI_SYSTEM_OFF
    smc     #0
    b       .

    .macro  ventry target
    b       \target
    .balign 128
    .endm
    .balign 2048
vectors_el2:
    .rept   8                           // current EL: nothing expected
    ventry  unexpected
    .endr
    ventry  el2_sync                    // 0x400: lower EL, synchronous
    ventry  el2_irq                     // 0x480: lower EL, IRQ
    .rept   6
    ventry  unexpected
    .endr
    .balign 2048
vectors_el1:
    .rept   5
    ventry  unexpected
    .endr
    ventry  guest_irq                   // 0x280: IRQ at EL1 with SP_EL1
    .rept   10
    ventry  unexpected
    .endr

#include "print.S"

s_title:     .asciz "vgic: EL2 hypervisor, EL1 guest, GICv3 list registers\n"
s_vtr:       .asciz "ich_vtr "
s_took:      .asciz "guest took (intid, running priority): "
s_maint:     .asciz "maintenance: ppi "
s_misr:      .asciz " misr "
s_eisr:      .asciz " eisr "
s_elrsr:     .asciz " elrsr after "
s_hw:        .asciz "hw list register: physical sgi "
s_active:    .asciz " active "
s_after:     .asciz " after guest eoi "
s_traps:     .asciz "trapped to el2 (esr): "
s_lrenp:     .asciz "eoi without list register: misr "
s_eoicount:  .asciz " eoicount "
s_cnthp:     .asciz "el2 physical timer: ppi "
s_istatus:   .asciz " istatus "
s_done:      .asciz "done\n"
s_unexpected: .asciz "unexpected exception, esr_el2 "

    .balign 64
resume:     .quad 0
log_count:  .quad 0
log:        .quad 0, 0, 0, 0, 0, 0
maint_log:  .quad 0, 0, 0, 0
trap_count: .quad 0
trap_log:   .quad 0, 0, 0, 0
    .balign 16
    .space  2048
stack_top:
    .space  2048
guest_stack_top:
