// irq: an interrupt-heavy workload on two PEs. PE0 starts PE1 (PSCI CPU_ON); they play ITERS
// rounds of SGI ping-pong (SGI 1 to PE1, SGI 2 back to PE0) while each PE's virtual timer
// interrupts it every PERIOD counter ticks. Every interrupt handled adds one to x28 of the PE
// that took it (the benchmark reads them back). Then PSCI SYSTEM_OFF.

#define PERIOD      200                 // ticks: 3,200 cycles of the 1 GHz clock
#define GICR_SGI    0x10000

    .global _start
_start:
    ldr     x0, =stack0_top
    mov     sp, x0
    mov     x28, #0
    ldr     x1, =GICD_BASE
    mov     w2, #2                      // EnableGrp1
    str     w2, [x1]
    mov     x0, #0
    bl      cpu_init
    ldr     x0, =PSCI_CPU_ON_64
    mov     x1, #1
    adr     x2, secondary
    mov     x3, #1
    hvc     #0
    ldr     x1, =ready
1:  ldr     x2, [x1]
    cbz     x2, 1b
    bl      timer_start
    ldr     x20, =ITERS
    mov     x21, #0
    ldr     x22, =pong
2:  add     x21, x21, #1
    ldr     x0, =((1 << 24) | 2)        // SGI 1 to PE1
    msr     icc_sgi1r_el1, x0
3:  msr     daifset, #2
    ldr     x1, [x22]
    cmp     x1, x21
    b.hs    4f
    wfi
    msr     daifclr, #2
    b       3b
4:  msr     daifclr, #2
    cmp     x21, x20
    b.lo    2b
    msr     daifset, #2
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
    b       .

secondary:
    ldr     x1, =stack1_top
    mov     sp, x1
    mov     x28, #0
    bl      cpu_init
    bl      timer_start
    ldr     x1, =ready
    mov     x2, #1
    str     x2, [x1]
1:  wfi
    b       1b

cpu_init:                               // x0 = PE index
    adr     x1, vectors
    msr     vbar_el1, x1
    ldr     x1, =GICR_BASE
    mov     x2, #GICR_STRIDE
    madd    x1, x0, x2, x1
    str     wzr, [x1, #0x14]            // GICR_WAKER
    add     x1, x1, #GICR_SGI
    mov     w2, #-1
    str     w2, [x1, #0x80]             // all Group 1
    ldr     w2, =((1 << 1) | (1 << 2) | (1 << 27))
    str     w2, [x1, #0x100]
    mov     x2, #0xff
    msr     icc_pmr_el1, x2
    mov     x2, #1
    msr     icc_igrpen1_el1, x2
    ret

timer_start:
    mov     x0, #PERIOD
    msr     cntv_tval_el0, x0
    mov     x0, #1
    msr     cntv_ctl_el0, x0
    msr     daifclr, #2
    ret

irq_handler:
    stp     x0, x1, [sp, #-32]!
    stp     x2, x3, [sp, #16]
    mrs     x0, icc_iar1_el1
    add     x28, x28, #1
    cmp     x0, #1
    b.ne    1f
    ldr     x2, =((2 << 24) | 1)        // ping: answer PE0 with SGI 2
    msr     icc_sgi1r_el1, x2
    b       8f
1:  cmp     x0, #2
    b.ne    2f
    ldr     x2, =pong
    ldr     x3, [x2]
    add     x3, x3, #1
    str     x3, [x2]
    b       8f
2:  mrs     x2, cntv_cval_el0           // the timer: next period
    add     x2, x2, #PERIOD
    msr     cntv_cval_el0, x2
8:  msr     icc_eoir1_el1, x0
    ldp     x2, x3, [sp, #16]
    ldp     x0, x1, [sp], #32
    eret

    .macro  ventry target
    b       \target
    .balign 128
    .endm
    .balign 2048
vectors:
    .rept   5
    ventry  .
    .endr
    ventry  irq_handler
    .rept   10
    ventry  .
    .endr

    .balign 64
ready:  .quad 0
pong:   .quad 0
    .balign 16
    .space  1024
stack0_top:
    .space  1024
stack1_top:
