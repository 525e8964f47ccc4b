// illegal_eret: ERETs from EL2 with every kind of SPSR_EL2.M, legal and illegal, and what the
// PE does next (Arm ARM AArch64.ExceptionReturn, IllegalExceptionReturn, ELFromSPSR).
//
// Bare image entered at EL2 with the MMU off: `armvirt run --bare --el 2`, or
// `qemu-system-aarch64 -M virt,virtualization=on -cpu cortex-a57 -kernel` — both must print
// the same (tests/test_probing.py). For each case of the table at `cases` it prints the SPSR
// and HCR_EL2 it returns with, ERETs to `landing` (+ an offset), and prints what the next
// exception taken to EL2 saw: the vector offset, ESR_EL2, SPSR_EL2 (PSTATE when it was taken:
// IL is bit 20) and ELR_EL2 relative to `landing`.
//
// An illegal return keeps EL2 and SP_EL2, restores NZCV and DAIF from the SPSR and sets
// PSTATE.IL: `landing` then takes an Illegal Execution state exception (EC 0x0E) at EL2,
// current EL with SP_ELx (vector 0x200). A legal return runs `landing`'s HVC (EC 0x16 from EL1
// or EL2; UNDEFINED, EC 0x00, from EL0, routed to EL2 by HCR_EL2.TGE).
//
// HCR_EL2.RW is set in every case: QEMU's A57 resets it to 0 (EL1 AArch32), armvirt has no
// AArch32 and keeps it RAO. For the same reason there is no M[4] = 1 (AArch32) case here: the
// A57 (and QEMU 7.2's a64fx) return to AArch32 EL0, armvirt takes it as illegal as ELFromSPSR
// says for a PE without AArch32; tests/test_probing.py's property test covers it.

#define HCR_RW      (1 << 31)
#define HCR_TGE     (1 << 27)
#define FLAGS       0xA0000140      // N, C; DAIF = 0b0101 (A, F): must come back in SPSR_EL2
#define SPSR_IL     (1 << 20)

    .global _start
    .type   _start, %function
_start:
    adr     x0, vectors
    msr     vbar_el2, x0
    adr     x0, s_hello
    bl      puts
    adr     x20, cases
next_case:
    ldr     x21, [x20], #8                  // SPSR_EL2 to return with (-1: end)
    cmn     x21, #1
    b.eq    done
    ldr     x22, [x20], #8                  // HCR_EL2
    ldr     x23, [x20], #8                  // ELR_EL2 - landing
    mov     x0, x21
    adr     x1, s_case
    bl      print_kv
    mov     x0, x22
    adr     x1, s_hcr
    bl      print_kv
    msr     hcr_el2, x22
    isb
    adr     x0, landing
    add     x0, x0, x23
    msr     elr_el2, x0
    msr     spsr_el2, x21
    adr     x19, next_case                  // where the handler goes on
    eret

    .balign 16
landing:
    hvc     #0
    b       .

// Every vector records its offset in x9 and goes to `report`.
    .macro  vec off
    mov     x9, #\off
    b       report
    .balign 128
    .endm

    .balign 2048
vectors:
    vec 0x000
    vec 0x080
    vec 0x100
    vec 0x180
    vec 0x200
    vec 0x280
    vec 0x300
    vec 0x380
    vec 0x400
    vec 0x480
    vec 0x500
    vec 0x580
    vec 0x600
    vec 0x680
    vec 0x700
    vec 0x780

report:
    mov     x0, x9
    adr     x1, s_vec
    bl      print_kv
    mrs     x0, esr_el2
    adr     x1, s_esr
    bl      print_kv
    mrs     x0, spsr_el2
    adr     x1, s_spsr
    bl      print_kv
    mrs     x0, elr_el2
    adr     x1, landing
    sub     x0, x0, x1
    adr     x1, s_elr
    bl      print_kv
    br      x19

done:
    adr     x0, s_done
    bl      puts
    ldr    x0, =PSCI_SYSTEM_OFF
    smc     #0
    b       .

#include "print.S"                          // puts: x0 = NUL-terminated string (x0-x7, x9)

print_kv:                                   // prints "<x1 string><x0 as 16 hex digits>\n"
    mov     x5, x30
    mov     x6, x0
    mov     x0, x1
    bl      puts
    ldr    x3, =UART_BASE
    mov     x7, #60
1:  lsr     x4, x6, x7
    and     x4, x4, #0xF
    cmp     x4, #10
    b.lt    2f
    add     x4, x4, #('a' - 10 - '0')
2:  add     x4, x4, #'0'
    strb    w4, [x3]
    subs    x7, x7, #4
    b.ge    1b
    mov     x4, #'\n'
    strb    w4, [x3]
    mov     x30, x5
    ret

    .balign 8
cases:  // SPSR_EL2, HCR_EL2, ELR offset
    .quad   FLAGS | 0x01, HCR_RW, 0             // EL0 with SP_ELx: no such mode
    .quad   FLAGS | 0x02, HCR_RW, 0             // M[1] = 1
    .quad   FLAGS | 0x03, HCR_RW, 0
    .quad   FLAGS | 0x06, HCR_RW, 0
    .quad   FLAGS | 0x07, HCR_RW, 0
    .quad   FLAGS | 0x0A, HCR_RW, 0
    .quad   FLAGS | 0x0B, HCR_RW, 0
    .quad   FLAGS | 0x0C, HCR_RW, 0             // EL3t, EL3h: EL3 not implemented
    .quad   FLAGS | 0x0D, HCR_RW, 0
    .quad   FLAGS | 0x0E, HCR_RW, 0
    .quad   FLAGS | 0x0F, HCR_RW, 0
    .quad   FLAGS | 0x05, HCR_RW | HCR_TGE, 0   // EL1h with TGE = 1
    .quad   FLAGS | 0x04, HCR_RW | HCR_TGE, 0   // EL1t with TGE = 1
    .quad   FLAGS | 0x01, HCR_RW, 2             // illegal, to a misaligned pc: PC alignment first
    .quad   FLAGS | 0x09 | SPSR_IL, HCR_RW, 0   // legal EL2h, but SPSR.IL = 1 is restored
    .quad   FLAGS | 0x05, HCR_RW, 0             // legal: EL1h, HVC
    .quad   FLAGS | 0x04, HCR_RW, 0             // legal: EL1t, HVC
    .quad   FLAGS | 0x08, HCR_RW, 0             // legal: EL2t, HVC
    .quad   FLAGS | 0x00, HCR_RW | HCR_TGE, 0   // legal: EL0t with TGE = 1, HVC is UNDEFINED
    .quad   -1

s_hello:    .asciz "illegal_eret: EL2\n"
s_case:     .asciz "eret SPSR "
s_hcr:      .asciz "     HCR  "
s_vec:      .asciz "  vector "
s_esr:      .asciz "  ESR    "
s_spsr:     .asciz "  SPSR   "
s_elr:      .asciz "  ELR-landing "
s_done:     .asciz "done\n"
