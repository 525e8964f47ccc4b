// debug_wpt: hardware watchpoints (Arm ARM AArch64.CheckWatchpoint, AArch64.WatchpointMatch,
// AArch64.WatchpointByteMatch, AArch64.WatchpointException): loads and stores of every size,
// pairs, SIMD&FP Q registers, exclusives, acquire/release, BAS byte selection for doubleword- and
// word-aligned DBGWVR, MASK, LSC, PAC (EL0 and EL1), the four watchpoints, and, with the MMU on
// (unaligned accesses and DC ZVA to the Device memory of an MMU-off regime are Alignment
// faults), unaligned accesses, an access across a page boundary and DC ZVA; built with -DLSE,
// the LSE atomics too; built with -DMMIO, only watchpoints on device registers (the PL011's),
// which a hypervisor emulates.
//
// Runs at EL1 (entered at EL2 it drops to EL1 first); tests/test_selfdebug.py compares its
// output with QEMU's (cortex-a57; -cpu max for the LSE build). Each case prints its table and
// index and either the exception (vector offset, ESR_EL1.EC and ISS, ELR_EL1 - _start, FAR_EL1 -
// wbuf) or "none".

#include "debug_lib.inc"

#define W(lsc, bas)     (1 | (3 << 1) | ((lsc) << 3) | ((bas) << 5))
#define W_PAC(pac, lsc, bas) (1 | ((pac) << 1) | ((lsc) << 3) | ((bas) << 5))
#define MASK(m)         ((m) << 24)
#define LD      1
#define ST      2
#define LDST    3
// a case: watchpoint number, DBGWVR - wbuf, DBGWCR, access routine, access address - wbuf
#define CASE(n, wvr, wcr, rt, addr) .quad n, wvr, wcr, rt - _start, addr

    .global _start
    .type   _start, %function
_start:
    dl_enter_el1
    adr     x0, s_hello
    bl      puts
    mov     x0, #(3 << 20)              // CPACR_EL1.FPEN: no FP/SIMD traps
    msr     cpacr_el1, x0
    msr     oslar_el1, xzr
    mov     x0, #(MDSCR_MDE | MDSCR_KDE)
    msr     mdscr_el1, x0
    msr     daifclr, #8
    isb
    adr     x24, wbuf
#ifdef MMIO
    // Built with -DMMIO: watchpoints on device registers (the PL011's) instead, which a
    // hypervisor emulates (its stage 2 leaves them unmapped); FAR is printed - UART_BASE.
    ldr     x24, =UART_BASE
    adr     x0, s_mmio_el1
    adr     x25, t_mmio
    mov     x26, #0
    bl      run_table
    adr     x0, s_mmio_el0
    adr     x25, t_mmio
    mov     x26, #1
    bl      run_table
    b       dl_off
#endif

    adr     x0, s_el1
    adr     x25, t_el1
    mov     x26, #0
    bl      run_table
    adr     x0, s_el0
    adr     x25, t_el0
    mov     x26, #1
    bl      run_table
    bl      mmu_on
    adr     x0, s_unaligned
    adr     x25, t_unaligned
    mov     x26, #0
    bl      run_table
#ifdef LSE
    adr     x0, s_lse
    adr     x25, t_lse
    mov     x26, #0
    bl      run_table
#endif
    b       dl_off

// x0: title; x25: table (CASE rows, ended by n = -1); x26: 1 to run the accesses at EL0
run_table:
    mov     x28, x30
    bl      puts
    mov     x23, #0                     // case index
1:  ldr     x12, [x25], #8              // watchpoint number
    cmn     x12, #1
    b.eq    9f
    ldp     x13, x14, [x25], #16        // WVR offset, WCR
    ldp     x15, x16, [x25], #16        // routine offset, address offset
    adr     x0, s_case
    bl      puts
    mov     x0, x23
    bl      puthex
    mov     x0, #':'
    bl      putc
    // clear all four, then program watchpoint x12
    msr     dbgwcr0_el1, xzr
    msr     dbgwcr1_el1, xzr
    msr     dbgwcr2_el1, xzr
    msr     dbgwcr3_el1, xzr
    add     x13, x24, x13
    adr     x0, 2f
    add     x0, x0, x12, lsl #4         // 4 instructions per row below
    br      x0
2:  msr     dbgwvr0_el1, x13
    msr     dbgwcr0_el1, x14
    b       3f
    nop
    msr     dbgwvr1_el1, x13
    msr     dbgwcr1_el1, x14
    b       3f
    nop
    msr     dbgwvr2_el1, x13
    msr     dbgwcr2_el1, x14
    b       3f
    nop
    msr     dbgwvr3_el1, x13
    msr     dbgwcr3_el1, x14
    b       3f
    nop
3:  isb
    adr     x0, _start
    add     x3, x0, x15                 // the access routine
    add     x1, x24, x16                // its address
    mov     x2, #0x5A
    adr     x19, 5f
    mov     x20, #SPSR_EL1H_D0
    cbnz    x26, 4f
    blr     x3
    adr     x0, s_none
    bl      puts
    b       5f
4:  msr     elr_el1, x3                 // at EL0: the routine returns to el0_done
    adr     x30, el0_done
    mov     x0, #SPSR_EL0_D0
    msr     spsr_el1, x0
    isb
    eret
5:  add     x23, x23, #1
    b       1b
9:  msr     dbgwcr0_el1, xzr
    msr     dbgwcr1_el1, xzr
    msr     dbgwcr2_el1, xzr
    msr     dbgwcr3_el1, xzr
    isb
    mov     x30, x28
    ret

el0_done:
    svc     #1

on_exception:
    mrs     x0, esr_el1
    lsr     x0, x0, #26
    cmp     x0, #0x15
    b.ne    1f
    adr     x0, s_none                  // SVC #1 from el0_done: the access did not stop
    bl      puts
    b       dl_resume
1:  adr     x0, s_exc
    bl      dl_report
    adr     x0, s_far
    bl      puts
    mrs     x0, far_el1
    sub     x0, x0, x24
    bl      puthex
    bl      dl_newline
    b       dl_resume

// EL1&0 stage 1: VA = PA, the first GiB Device-nGnRnE, the second (RAM) Normal write-back.
mmu_on:
    ldr     x0, =0xFF00                 // MAIR attr0 Device-nGnRnE, attr1 Normal WB
    msr     mair_el1, x0
    ldr     x0, =(25 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23))   // T0SZ 25, WB, ISH, EPD1
    msr     tcr_el1, x0
    adr     x0, ttable
    msr     ttbr0_el1, x0
    tlbi    vmalle1
    dsb     sy
    isb
    mrs     x0, sctlr_el1
    orr     x0, x0, #1                  // M
    orr     x0, x0, #(1 << 2)           // C
    orr     x0, x0, #(1 << 12)          // I
    msr     sctlr_el1, x0
    isb
    ret

rt_ldrb:    ldrb    w2, [x1]
            ret
rt_ldrh:    ldrh    w2, [x1]
            ret
rt_ldrw:    ldr     w2, [x1]
            ret
rt_ldrx:    ldr     x2, [x1]
            ret
rt_strb:    strb    w2, [x1]
            ret
rt_strh:    strh    w2, [x1]
            ret
rt_strw:    str     w2, [x1]
            ret
rt_strx:    str     x2, [x1]
            ret
rt_ldp:     ldp     x2, x4, [x1]
            ret
rt_stp:     stp     x2, x2, [x1]
            ret
rt_ldxr:    ldxr    x2, [x1]
            clrex
            ret
rt_stxr:    ldxr    x2, [x1]
            stxr    w4, x2, [x1]
            ret
rt_ldar:    ldar    x2, [x1]
            ret
rt_stlr:    stlr    x2, [x1]
            ret
rt_dczva:   dc      zva, x1                 // a store of the 64-byte block
            ret
rt_ldrq:    ldr     q0, [x1]
            ret
rt_strq:    str     q0, [x1]
            ret
#ifdef LSE
    .arch_extension lse
rt_ldadd:   ldadd   x2, x4, [x1]
            ret
rt_stadd:   stadd   x2, [x1]
            ret
rt_swp:     swp     x2, x4, [x1]
            ret
rt_cas:     mov     x4, #0
            cas     x4, x2, [x1]
            ret
#endif

    .balign 8
t_el1:
    CASE(0, 0, W(LD, 0x01), rt_ldrb, 0)
    CASE(0, 0, W(LD, 0x01), rt_strb, 0)
    CASE(0, 0, W(ST, 0x01), rt_strb, 0)
    CASE(0, 0, W(LDST, 0x02), rt_ldrb, 0)
    CASE(0, 0, W(LDST, 0x02), rt_ldrh, 0)
    CASE(0, 0, W(LDST, 0x0C), rt_ldrw, 0)
    CASE(0, 0, W(LDST, 0xF0), rt_ldrx, 0)
    CASE(0, 0, W(LDST, 0xF0), rt_strx, 0)
    CASE(0, 0, W(LDST, 0x80), rt_ldrw, 0)
    CASE(0, 0, W(LDST, 0x80), rt_ldrw, 4)
    CASE(1, 4, W(LDST, 0x01), rt_ldrb, 4)       // word-aligned DBGWVR: BAS<3:0>
    CASE(1, 4, W(LDST, 0x01), rt_ldrb, 0)
    CASE(2, 8, W(LDST, 0xFF), rt_ldp, 0)
    CASE(2, 8, W(ST, 0xFF), rt_stp, 0)
    CASE(2, 8, W(LD, 0xFF), rt_stp, 0)
    CASE(3, 0x20, W(LDST, 0xFF) | MASK(5), rt_ldrb, 0x3F)   // a 32-byte block
    CASE(3, 0x20, W(LDST, 0xFF) | MASK(5), rt_ldrb, 0x1F)
    CASE(3, 0x20, W(LDST, 0xFF) | MASK(5), rt_strw, 0x24)
    CASE(0, 0, W(LD, 0xFF), rt_ldxr, 0)
    CASE(0, 0, W(ST, 0xFF), rt_stxr, 0)
    CASE(0, 0x10, W(LD, 0xFF), rt_ldar, 0x10)
    CASE(0, 0x10, W(ST, 0xFF), rt_stlr, 0x10)
    CASE(0, 8, W(LD, 0x01), rt_ldrq, 0)
    CASE(0, 8, W(ST, 0x01), rt_strq, 0)
    CASE(0, 0, W_PAC(2, LDST, 0xFF), rt_ldrx, 0)  // EL0 only
    CASE(0, 0, W_PAC(1, LDST, 0xFF), rt_ldrx, 0)  // EL1 only
    .quad   -1
t_el0:
    CASE(0, 0, W(LD, 0xFF), rt_ldrx, 0)
    CASE(0, 0, W_PAC(1, ST, 0xFF), rt_strx, 0)    // EL1 only
    CASE(0, 0, W_PAC(2, ST, 0xFF), rt_strx, 0)    // EL0 only
    CASE(3, 0, W(LD, 0x10), rt_ldrw, 4)
    .quad   -1
t_unaligned:
    CASE(0, 8, W(LDST, 0x01), rt_ldrx, 5)
    CASE(0, 0, W(LDST, 0x80), rt_ldrw, 6)
    CASE(0, 8, W(ST, 0x01), rt_strh, 7)
    CASE(0, 0, W(LDST, 0x80), rt_ldrx, 7)
    CASE(0, 8, W(LDST, 0x0F), rt_ldrx, 0xC)
    CASE(0, 0x10, W(LDST, 0xFF), rt_ldp, 0xC)
    CASE(0, 0x40, W(LDST, 0x01), rt_ldrx, 0x3C)   // across the page boundary
    CASE(0, 0x40, W(ST, 0x02), rt_strw, 0x3E)
    CASE(0, 0x10, W(ST, 0xFF), rt_dczva, 0)       // DC ZVA needs Normal memory
    CASE(0, 0x10, W(LD, 0xFF), rt_dczva, 0)
    CASE(0, 0x38, W(ST, 0x80), rt_dczva, 0x20)    // the block's last byte
    .quad   -1
#ifdef MMIO
t_mmio:                                                 // PL011 UARTFR (0x18), UARTIBRD (0x24)
    CASE(0, 0x18, W(LD, 0x0F), rt_ldrw, 0x18)
    CASE(0, 0x18, W(ST, 0x0F), rt_ldrw, 0x18)           // a load: no match
    CASE(1, 0x18, W(LD, 0xF0), rt_ldrw, 0x18)           // bytes 0x1C..0x1F: no match
    CASE(2, 0x20, W(ST, 0xF0), rt_strw, 0x24)
    .quad   -1
#endif
#ifdef LSE
t_lse:
    CASE(0, 0, W(LD, 0xFF), rt_ldadd, 0)
    CASE(0, 0, W(ST, 0xFF), rt_ldadd, 0)
    CASE(0, 0, W(LDST, 0xFF), rt_ldadd, 0)
    CASE(0, 0, W(ST, 0xFF), rt_stadd, 0)
    CASE(0, 0, W(LD, 0xFF), rt_stadd, 0)
    CASE(0, 0, W(LD, 0xFF), rt_swp, 0)
    CASE(0, 0, W(ST, 0xFF), rt_cas, 0)
    .quad   -1
#endif

#include "debug_lib_code.inc"

s_hello:        .asciz "debug_wpt: EL1\n"
s_el1:          .asciz "EL1, MMU off\n"
s_el0:          .asciz "EL0, MMU off\n"
s_unaligned:    .asciz "EL1, MMU on, unaligned\n"
s_lse:          .asciz "EL1, LSE atomics\n"
s_mmio_el1:     .asciz "EL1, device registers\n"
s_mmio_el0:     .asciz "EL0, device registers\n"
s_case:         .asciz "case "
s_none:         .asciz " none\n"
s_exc:          .asciz ""
s_far:          .asciz " FAR=+"

    .balign 4096
ttable:
    .quad   0x00000000 | (1 << 10) | (0 << 2) | 1                     // Device, AF
    .quad   0x40000000 | (1 << 10) | (3 << 8) | (1 << 2) | 1          // Normal, AF, ISH
    .fill   510, 8, 0
    .space  4096 - 64
wbuf:                                   // 64 bytes before a page boundary
    .space  128
