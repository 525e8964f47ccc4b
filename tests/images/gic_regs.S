// gic_regs: the GICv3 distributor and redistributor registers as a guest programs and reads
// them, CPU 0 of a two-CPU machine. tests/test_hypervisor.py runs it on the bare board (the
// core's GIC, armvirt/devices/gic.py), under both builds of the hypervisor (the emulated one,
// firmware/host/vgic.S) and on qemu-system-aarch64 -M virt,gic-version=3,its=off, and compares
// the outputs: three implementations, one behaviour.
//
// Every line is "name value" with the value in hexadecimal. Fields that differ between
// implementations on purpose are masked and said so: GICD_TYPER.CPUNumber and the LPI fields
// of GICR_TYPER, which QEMU's GIC sets and the board's and the hypervisor's (no LPIs) do not.

#include "guest.h"

#define GICD_CTLR       0x0000
#define GICD_TYPER      0x0004
#define GICD_IIDR       0x0008
#define GICD_IGROUPR1   0x0084
#define GICD_ISENABLER1 0x0104
#define GICD_ICENABLER1 0x0184
#define GICD_ISPENDR1   0x0204
#define GICD_ICPENDR1   0x0284
#define GICD_ISACTIVER1 0x0304
#define GICD_IPRIO40    0x0428          // GICD_IPRIORITYR10: INTIDs 40-43
#define GICD_ICFGR2     0x0C08          // INTIDs 32-47
#define GICD_IROUTER40  0x6140
#define GICD_PIDR2      0xFFE8
#define GICR_TYPER      0x0008
#define GICR_WAKER      0x0014
#define GICR_PIDR2      0xFFE8
#define GICR_SGI        0x10000
#define GICR_IGROUPR0   (GICR_SGI + 0x0080)
#define GICR_ISENABLER0 (GICR_SGI + 0x0100)
#define GICR_ICENABLER0 (GICR_SGI + 0x0180)
#define GICR_ISPENDR0   (GICR_SGI + 0x0200)
#define GICR_ICPENDR0   (GICR_SGI + 0x0280)
#define GICR_IPRIO4     (GICR_SGI + 0x0404)   // SGIs 4-7
#define GICR_IPRIO28    (GICR_SGI + 0x041C)   // PPIs 28-31
#define GICR_ICFGR0     (GICR_SGI + 0x0C00)
#define GICR_ICFGR1     (GICR_SGI + 0x0C04)

// show "name": print name, the value in x0, a newline (keeps x19..x28)
.macro show name
    mov     x19, x0
    say     "\name "
    mov     x0, x19
    bl      puthex
    bl      newline
.endm

    .global _start
    .type   _start, %function
_start:
    ldr     x0, =stack_top
    mov     sp, x0
    ldr     x20, =GICD_BASE
    ldr     x21, =GICR_BASE
    ldr     x22, =(GICR_BASE + GICR_STRIDE)

    // --- distributor
    mov     w0, #3
    str     w0, [x20, #GICD_CTLR]
    ldr     w0, [x20, #GICD_CTLR]
    show    "gicd_ctlr(3)"
    str     wzr, [x20, #GICD_CTLR]
    ldr     w0, [x20, #GICD_CTLR]
    show    "gicd_ctlr(0)"
    ldr     w0, [x20, #GICD_TYPER]
    mov     w1, #0xFF1F                 // ITLinesNumber, IDbits and the low flags;
    movk    w1, #0x03F8, lsl #16        // not CPUNumber [7:5]
    and     w0, w0, w1
    show    "gicd_typer(masked)"
    ldr     w0, [x20, #GICD_IIDR]
    show    "gicd_iidr"
    mov     x1, #GICD_PIDR2
    ldr     w0, [x20, x1]
    and     w0, w0, #0xF0
    show    "gicd_pidr2.archrev"
    mov     w0, #-1
    str     w0, [x20, #GICD_IGROUPR1]
    ldr     w0, [x20, #GICD_IGROUPR1]
    show    "gicd_igroupr1"
    mov     w0, #(1 << 8)               // SPI 40
    str     w0, [x20, #GICD_ISENABLER1]
    ldr     w0, [x20, #GICD_ISENABLER1]
    show    "gicd_isenabler1"
    mov     w0, #(1 << 8)
    str     w0, [x20, #GICD_ICENABLER1]
    ldr     w0, [x20, #GICD_ICENABLER1]
    show    "gicd_icenabler1"
    mov     w0, #(1 << 9)               // SPI 41, disabled: stays pending
    str     w0, [x20, #GICD_ISPENDR1]
    ldr     w0, [x20, #GICD_ISPENDR1]
    show    "gicd_ispendr1"
    mov     w0, #(1 << 9)
    str     w0, [x20, #GICD_ICPENDR1]
    ldr     w0, [x20, #GICD_ICPENDR1]
    show    "gicd_icpendr1"
    ldr     w0, [x20, #GICD_ISACTIVER1]
    show    "gicd_isactiver1"
    mov     w0, #-1
    str     w0, [x20, #GICD_IPRIO40]
    ldr     w0, [x20, #GICD_IPRIO40]
    show    "gicd_ipriorityr10(-1)"
    mov     w0, #0x42
    strb    w0, [x20, #(GICD_IPRIO40 + 1)]
    ldrb    w0, [x20, #(GICD_IPRIO40 + 1)]
    show    "gicd_ipriority41(byte)"
    ldr     w0, [x20, #GICD_IPRIO40]
    show    "gicd_ipriorityr10"
    ldr     w0, =0xAAAA0008             // edge: SPI 33, and 40-47
    mov     x1, #GICD_ICFGR2
    str     w0, [x20, x1]
    ldr     w0, [x20, x1]
    show    "gicd_icfgr2"
    mov     x1, #GICD_IROUTER40
    mov     x0, #1                      // Aff0 = 1: CPU 1
    str     x0, [x20, x1]
    ldr     x0, [x20, x1]
    show    "gicd_irouter40"
    mov     x1, #(GICD_IROUTER40 + 4)
    ldr     w0, [x20, x1]
    show    "gicd_irouter40[63:32]"
    mov     x1, #(GICD_IROUTER40 + 8)
    ldr     x0, =0x8000FFFF             // IRM = 1, Aff0 = 0xFF, and bits that are RES0
    str     x0, [x20, x1]
    ldr     x0, [x20, x1]
    show    "gicd_irouter41"
    mov     w0, #2
    str     w0, [x20, #GICD_CTLR]

    // --- redistributors of CPU 0 and CPU 1
    ldr     x1, =~0x3000021             // not PLPIS, DPGS, CommonLPIAff: QEMU's redistributors
    ldr     x0, [x21, #GICR_TYPER]      // support LPIs even without an ITS; ours do not
    and     x0, x0, x1
    show    "gicr0_typer(masked)"
    ldr     x1, =~0x3000021
    ldr     x0, [x22, #GICR_TYPER]
    and     x0, x0, x1
    show    "gicr1_typer(masked)"
    ldr     w0, [x21, #GICR_WAKER]
    show    "gicr0_waker(reset)"
    str     wzr, [x21, #GICR_WAKER]
1:  ldr     w0, [x21, #GICR_WAKER]
    tbnz    w0, #2, 1b
    show    "gicr0_waker(awake)"
    mov     x1, #GICR_PIDR2
    ldr     w0, [x21, x1]
    and     w0, w0, #0xF0
    show    "gicr_pidr2.archrev"
    add     x23, x21, #GICR_SGI
    mov     w0, #0xF0
    str     w0, [x23, #0x80]            // GICR_IGROUPR0
    ldr     w0, [x23, #0x80]
    show    "gicr0_igroupr0"
    ldr     w0, =0x08000030             // SGIs 4, 5 and PPI 27
    str     w0, [x23, #0x100]           // GICR_ISENABLER0
    ldr     w0, [x23, #0x100]
    show    "gicr0_isenabler0"
    mov     w0, #0x10
    str     w0, [x23, #0x180]           // GICR_ICENABLER0: SGI 4 off
    ldr     w0, [x23, #0x180]
    show    "gicr0_icenabler0"
    mov     w0, #(1 << 6)               // SGI 6, disabled: stays pending
    str     w0, [x23, #0x200]           // GICR_ISPENDR0
    ldr     w0, [x23, #0x200]
    show    "gicr0_ispendr0"
    mov     w0, #(1 << 6)
    str     w0, [x23, #0x280]           // GICR_ICPENDR0
    ldr     w0, [x23, #0x280]
    show    "gicr0_icpendr0"
    ldr     w0, [x23, #0x300]
    show    "gicr0_isactiver0"
    ldr     w0, =0x12345678
    str     w0, [x23, #0x404]           // SGIs 4-7
    ldr     w0, [x23, #0x404]
    show    "gicr0_ipriorityr1"
    mov     w0, #0xFF
    strb    w0, [x23, #(0x400 + 30)]
    ldr     w0, [x23, #0x41C]
    show    "gicr0_ipriorityr7"
    ldr     w0, [x23, #0xC00]
    show    "gicr0_icfgr0"
    mov     w0, #0
    str     w0, [x23, #0xC00]           // read-only: SGIs are edge-triggered
    ldr     w0, [x23, #0xC00]
    show    "gicr0_icfgr0(after 0)"
    ldr     w0, [x23, #0xC04]
    show    "gicr0_icfgr1"
    add     x24, x22, #GICR_SGI
    ldr     w0, [x24, #0x100]
    show    "gicr1_isenabler0"
    ldr     w0, [x24, #0x404]
    show    "gicr1_ipriorityr1"
    say     "gic_regs: done"
    bl      newline
    b       system_off

#include "guest_lib.S"
    .ltorg
    .balign 16
    .space  4096
stack_top:
