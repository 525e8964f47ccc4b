// mmu_faults: turn on translation at EL2 and EL1 (with stage 2), run EL0 code, take
// translation / access-flag / permission / stage 2 / S1PTW faults and print what the
// handlers see in ESR, FAR, HPFAR and PAR_EL1.
//
// Bare image entered at EL2 with the MMU off: `armvirt run --bare --el 2`, or
// `qemu-system-aarch64 -M virt,virtualization=on -cpu cortex-a57 -kernel` — both must print
// the same thing (tests/test_mmu_guest.py). 4 KiB granules; no PAN (the A57 is Armv8.0).
//
// Memory (identity unless said otherwise; VA = IPA = PA):
//   0x4000_0000  this image (code, EL0 page at EL0_PAGE, data)
//   0x4010_0000  EL2 stage 1 tables    0x4011_0000  stage 2 tables
//   0x4012_0000  EL1 stage 1 tables    0x4008_0000  stacks (EL2, then EL1)
// EL2 stage 1: GiB 0 Device, 2 MiB blocks 0x4000_0000-0x407F_FFFF Normal, 0x4060_0000 RO.
// Stage 2:     GiB 0 Device, blocks 0x4000_0000-0x405F_FFFF RW, 0x4060_0000 read-only.
// EL1 stage 1: GiB 0 Device; 0x4000_0000 2 MiB EL1-only; the 0x4020_0000 block split in pages:
//   +0x0000 EL0 code (-> EL0_PAGE, read-only, EL0-executable)
//   +0x1000 EL0 data RW           +0x2000 EL1-only data      +0x3000 AF = 0
//   +0x4000 invalid               +0x5000 -> IPA 0x4080_0000 (not in stage 2)
//   +0x6000 -> IPA 0x4060_0000 (read-only at stage 2)
//   0x4040_0000 2 MiB: a table at IPA 0x40C0_0000, which stage 2 does not map (S1PTW fault)

#define EL2_TT      0x40100000
#define S2_TT       0x40110000
#define EL1_TT      0x40120000
#define STACK_EL2   0x40080000
#define STACK_EL1   0x40090000
#define PAGES_VA    0x40200000
#define EL0_DATA_PA 0x40220000
#define EL1_DATA_PA 0x40221000
#define NEW_DATA_PA 0x40222000

// Descriptor bits (D8.3): valid+table/page = 3, block = 1
#define AF          (1 << 10)
#define SH_INNER    (3 << 8)
#define AP_RW_EL0   (1 << 6)
#define AP_RO       (2 << 6)
#define AP_RO_EL0   (3 << 6)
#define UXN         (1 << 54)
#define ATTR_DEV    (0 << 2)
#define ATTR_MEM    (1 << 2)
#define NORMAL_BLK  (1 | AF | SH_INNER | ATTR_MEM)
#define NORMAL_PAGE (3 | AF | SH_INNER | ATTR_MEM)
#define DEVICE_BLK  (1 | AF | ATTR_DEV)
// Stage 2 (MemAttr at bits 5:2, S2AP at 7:6)
#define S2_RW       (3 << 6)
#define S2_RO       (1 << 6)
#define S2_MEM      (0xF << 2)
#define S2_DEV      (0x1 << 2)

    .global _start
    .type   _start, %function
_start:
    ldr     x0, =STACK_EL2
    mov     sp, x0
    adr     x0, el2_vectors
    msr     vbar_el2, x0
    adr     x0, s_hello
    bl      puts

    // ---- EL2 stage 1 -------------------------------------------------------------------
    ldr     x0, =EL2_TT
    mov     x1, #0x3000
    bl      zero
    ldr     x0, =EL2_TT
    ldr     x1, =DEVICE_BLK                     // L1[0]: GiB 0, Device (the UART)
    str     x1, [x0]
    ldr     x1, =(EL2_TT + 0x1000) | 3          // L1[1]: table for 0x4000_0000
    str     x1, [x0, #8]
    ldr     x0, =EL2_TT + 0x1000
    ldr     x1, =0x40000000 | NORMAL_BLK
    mov     x2, #3
1:  str     x1, [x0], #8                        // 0x4000_0000..0x405F_FFFF read-write
    add     x1, x1, #0x200000
    subs    x2, x2, #1
    b.ne    1b
    ldr     x1, =0x40600000 | NORMAL_BLK | AP_RO // 0x4060_0000: read-only at EL2
    str     x1, [x0]
    ldr     x0, =0xFF00                         // MAIR: Attr0 Device-nGnRnE, Attr1 Normal WB
    msr     mair_el2, x0
    ldr     x0, =(1 << 31) | (1 << 23) | (2 << 16) | (3 << 12) | (1 << 10) | (1 << 8) | 25
    msr     tcr_el2, x0                         // 39-bit VA, 4K, 40-bit PA, WB walks
    ldr     x0, =EL2_TT
    msr     ttbr0_el2, x0
    dsb     sy
    tlbi    alle2
    dsb     sy
    isb
    ldr     x0, =0x30C50838 | 1 | (1 << 2) | (1 << 12)  // M, C, I + RES1
    msr     sctlr_el2, x0
    isb
    adr     x0, s_el2_on
    bl      puts

    ldr     x1, =0x41000000                     // not mapped: translation fault, level 2
    ldr     x2, [x1]
    ldr     x1, =0x40600008                     // read-only: permission fault, level 2
    str     x2, [x1]
    ldr     x1, =0x40600010
    ldr     x2, [x1]                            // but readable
    at      s1e2w, x1
    mrs     x0, par_el1
    adr     x1, s_par
    bl      print_kv

    // ---- stage 2 -----------------------------------------------------------------------
    ldr     x0, =S2_TT
    mov     x1, #0x2000
    bl      zero
    ldr     x0, =S2_TT
    ldr     x1, =1 | AF | S2_DEV | S2_RW        // L1[0]: GiB 0, Device
    str     x1, [x0]
    ldr     x1, =(S2_TT + 0x1000) | 3
    str     x1, [x0, #8]
    ldr     x0, =S2_TT + 0x1000
    ldr     x1, =0x40000000 | 1 | AF | SH_INNER | S2_MEM | S2_RW
    mov     x2, #3
1:  str     x1, [x0], #8
    add     x1, x1, #0x200000
    subs    x2, x2, #1
    b.ne    1b
    ldr     x1, =0x40600000 | 1 | AF | SH_INNER | S2_MEM | S2_RO
    str     x1, [x0]
    ldr     x0, =(1 << 31) | (2 << 16) | (3 << 12) | (1 << 10) | (1 << 8) | (1 << 6) | 25
    msr     vtcr_el2, x0                        // 39-bit IPA from level 1, 4K, 40-bit PA
    ldr     x0, =S2_TT | (5 << 48)              // VMID 5
    msr     vttbr_el2, x0

    // ---- EL1 stage 1 (built by EL2, before EL1 runs) ------------------------------------
    ldr     x0, =EL1_TT
    mov     x1, #0x4000
    bl      zero
    ldr     x0, =EL1_TT
    ldr     x1, =DEVICE_BLK | UXN | (1 << 53)
    str     x1, [x0]
    ldr     x1, =(EL1_TT + 0x1000) | 3
    str     x1, [x0, #8]
    ldr     x0, =EL1_TT + 0x1000                // L2 for 0x4000_0000
    ldr     x1, =0x40000000 | NORMAL_BLK        // EL1 only
    str     x1, [x0]
    ldr     x1, =(EL1_TT + 0x2000) | 3          // 0x4020_0000 in pages
    str     x1, [x0, #8]
    ldr     x1, =0x40C00000 | 3                 // 0x4040_0000: table at an unmapped IPA
    str     x1, [x0, #16]
    ldr     x0, =EL1_TT + 0x2000                // L3 for 0x4020_0000
    adr     x1, el0_page
    ldr     x2, =NORMAL_PAGE | AP_RO_EL0
    orr     x1, x1, x2
    str     x1, [x0]                            // +0x0000: EL0 code
    ldr     x1, =EL0_DATA_PA | NORMAL_PAGE | AP_RW_EL0 | UXN
    str     x1, [x0, #8]                        // +0x1000: EL0 data
    ldr     x1, =EL1_DATA_PA | NORMAL_PAGE
    str     x1, [x0, #16]                       // +0x2000: EL1 only
    ldr     x1, =(EL1_DATA_PA | NORMAL_PAGE) & ~AF
    str     x1, [x0, #24]                       // +0x3000: AF = 0
    ldr     x1, =0x40800000 | NORMAL_PAGE       // +0x5000: IPA outside stage 2
    str     x1, [x0, #40]
    ldr     x1, =0x40600000 | NORMAL_PAGE       // +0x6000: IPA read-only at stage 2
    str     x1, [x0, #48]
    ldr     x0, =EL0_DATA_PA
    ldr     x1, =0x1111
    str     x1, [x0]
    ldr     x0, =NEW_DATA_PA
    ldr     x1, =0x2222
    str     x1, [x0]
    dsb     sy

    // ---- enter EL1 with stage 2 on -------------------------------------------------------
    ldr     x0, =(1 << 31) | 1                  // HCR_EL2: RW (EL1 is AArch64), VM
    msr     hcr_el2, x0
    tlbi    vmalls12e1
    dsb     sy
    ldr     x0, =0x3C5                          // EL1h, DAIF masked
    msr     spsr_el2, x0
    adr     x0, el1_main
    msr     elr_el2, x0
    isb
    eret

// ------------------------------------------------------------------------------------------
// EL1
// ------------------------------------------------------------------------------------------
el1_main:
    ldr     x0, =STACK_EL1
    mov     sp, x0
    adr     x0, el1_vectors
    msr     vbar_el1, x0
    ldr     x0, =0xFF00
    msr     mair_el1, x0
    ldr     x0, =(1 << 23) | (2 << 32) | (3 << 12) | (1 << 10) | (1 << 8) | 25 // EPD1, ASID 8
    msr     tcr_el1, x0
    ldr     x0, =EL1_TT | (9 << 48)             // ASID 9
    msr     ttbr0_el1, x0
    isb
    ldr     x0, =0x30D00800 | 1 | (1 << 2) | (1 << 12)
    msr     sctlr_el1, x0
    isb
    adr     x0, s_el1_on
    bl      puts

    ldr     x1, =PAGES_VA + 0x5000              // IPA not mapped at stage 2
    ldr     x2, [x1]
    ldr     x1, =PAGES_VA + 0x6000              // stage 2 read-only
    str     w3, [x1, #4]
    ldr     x1, =0x40400000                     // S1 table at an IPA stage 2 lacks: S1PTW
    ldrb    w2, [x1]
    ldr     x1, =PAGES_VA + 0x4000
    at      s1e1r, x1                           // invalid: PAR fault, level 3
    mrs     x0, par_el1
    adr     x1, s_par
    bl      print_kv
    ldr     x1, =PAGES_VA + 0x1000
    at      s1e0w, x1                           // EL0 data page: PAR = its IPA
    mrs     x0, par_el1
    adr     x1, s_par
    bl      print_kv
    ldr     x1, =PAGES_VA + 0x2000
    at      s1e0r, x1                           // EL1-only: permission fault, level 3
    mrs     x0, par_el1
    adr     x1, s_par
    bl      print_kv

    // EL0
    msr     spsr_el1, xzr
    ldr     x0, =PAGES_VA
    msr     elr_el1, x0
    isb
    eret

el1_after_el0:
    // Remap the EL0 data page and invalidate it by VA and ASID: the new page is seen.
    ldr     x0, =EL1_TT + 0x2000 + 8
    ldr     x1, =NEW_DATA_PA | NORMAL_PAGE | AP_RW_EL0 | UXN
    str     x1, [x0]
    dsb     ishst
    ldr     x0, =((PAGES_VA + 0x1000) >> 12) | (9 << 48)
    tlbi    vae1is, x0
    dsb     ish
    isb
    ldr     x1, =PAGES_VA + 0x1000
    ldr     x0, [x1]
    adr     x1, s_remap
    bl      print_kv
    hvc     #0                                  // done

// ------------------------------------------------------------------------------------------
// EL0 code: one page, position independent (it runs at VA PAGES_VA)
// ------------------------------------------------------------------------------------------
    .balign 4096
el0_page:
    svc     #1
    movz    x9, #0x4020, lsl #16
    add     x9, x9, #0x1000                     // EL0 data
    ldr     x0, [x9]
    add     x0, x0, #1
    str     x0, [x9]
    ldr     x0, [x9]
    svc     #2                                  // print x0
    add     x10, x9, #0x1000
    ldr     x0, [x10]                           // EL1-only: permission fault, level 3
    add     x10, x9, #0x2000
    ldr     x0, [x10]                           // AF = 0: access flag fault, level 3
    add     x10, x9, #0x3000
    str     x0, [x10]                           // invalid: translation fault, level 3
    movz    x10, #0x4000, lsl #16
    ldr     x0, [x10]                           // EL1-only block: permission fault, level 2
    svc     #0                                  // back to EL1
    .balign 4096

// ------------------------------------------------------------------------------------------
// Exception vectors
// ------------------------------------------------------------------------------------------
// Each vector is 128 bytes (D1.10.2); only synchronous exceptions are expected, everything
// else spins where a debugger can see it.
    .macro  vec target
    b       \target
    .balign 128
    .endm

    .balign 2048
el2_vectors:
    vec .                           // current EL with SP_EL0: sync, IRQ, FIQ, SError
    vec .
    vec .
    vec .
    vec el2_sync_current            // current EL with SP_ELx
    vec .
    vec .
    vec .
    vec el2_sync_lower              // lower EL, AArch64
    vec .
    vec .
    vec .
    vec .                           // lower EL, AArch32
    vec .
    vec .
    vec .

el1_vectors:
    vec .
    vec .
    vec .
    vec .
    vec .                           // EL1 itself faulting: not expected
    vec .
    vec .
    vec .
    vec el1_sync_lower              // from EL0
    vec .
    vec .
    vec .
    vec .
    vec .
    vec .
    vec .

el2_sync_current:
    stp     x0, x1, [sp, #-16]!
    stp     x2, x30, [sp, #-16]!
    adr     x0, s_el2_fault
    bl      puts
    mrs     x0, esr_el2
    adr     x1, s_esr
    bl      print_kv
    mrs     x0, far_el2
    adr     x1, s_far
    bl      print_kv
    b       skip_el2

el2_sync_lower:
    stp     x0, x1, [sp, #-16]!
    stp     x2, x30, [sp, #-16]!
    mrs     x0, esr_el2
    lsr     x1, x0, #26
    cmp     x1, #0x16                           // HVC: the end
    b.eq    done
    adr     x0, s_s2_fault
    bl      puts
    mrs     x0, esr_el2
    adr     x1, s_esr
    bl      print_kv
    mrs     x0, far_el2
    adr     x1, s_far
    bl      print_kv
    mrs     x0, hpfar_el2
    adr     x1, s_hpfar
    bl      print_kv
skip_el2:
    mrs     x0, elr_el2
    add     x0, x0, #4
    msr     elr_el2, x0
    ldp     x2, x30, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

el1_sync_lower:
    stp     x0, x1, [sp, #-16]!
    stp     x2, x30, [sp, #-16]!
    mrs     x1, esr_el1
    lsr     x2, x1, #26
    cmp     x2, #0x15
    b.ne    1f
    and     x1, x1, #0xFFFF                     // SVC imm16
    cbz     x1, 3f
    cmp     x1, #2
    b.eq    2f
    adr     x0, s_svc1
    bl      puts
    b       4f
2:  adr     x1, s_value                         // x0 as EL0 left it
    bl      print_kv
    b       4f
3:  adr     x0, el1_after_el0                   // svc #0: continue at EL1
    msr     elr_el1, x0
    ldr     x0, =0x3C5
    msr     spsr_el1, x0
    b       4f
1:  adr     x0, s_el0_fault
    bl      puts
    mrs     x0, esr_el1
    adr     x1, s_esr
    bl      print_kv
    mrs     x0, far_el1
    adr     x1, s_far
    bl      print_kv
    mrs     x0, elr_el1
    add     x0, x0, #4
    msr     elr_el1, x0
4:  ldp     x2, x30, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

done:
    adr     x0, s_done
    bl      puts
    ldr     x0, =PSCI_SYSTEM_OFF
    smc     #0
    b       .

// ------------------------------------------------------------------------------------------
// Helpers (callable with the MMU on or off: the image is identity-mapped at EL2 and EL1)
// ------------------------------------------------------------------------------------------
zero:                                           // x0 = address, x1 = bytes (multiple of 16)
    stp     xzr, xzr, [x0], #16
    subs    x1, x1, #16
    b.ne    zero
    ret

puts:                                           // x0 = NUL-terminated string
    ldr     x3, =UART_BASE
1:  ldrb    w4, [x0], #1
    cbz     w4, 2f
    strb    w4, [x3]
    b       1b
2:  ret

print_kv:                                       // prints "<x1 string><x0 as 16 hex digits>\n"
    mov     x5, x30
    mov     x6, x0
    mov     x0, x1
    bl      puts
    ldr     x3, =UART_BASE
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

s_hello:     .asciz "mmu_faults: EL2, MMU off\n"
s_el2_on:    .asciz "EL2 stage 1 on\n"
s_el1_on:    .asciz "EL1 stage 1 on, stage 2 on (VMID 5, ASID 9)\n"
s_el2_fault: .asciz "EL2 data abort\n"
s_s2_fault:  .asciz "stage 2 abort to EL2\n"
s_el0_fault: .asciz "EL0 abort to EL1\n"
s_svc1:      .asciz "EL0 svc #1\n"
s_esr:       .asciz "  ESR   "
s_far:       .asciz "  FAR   "
s_hpfar:     .asciz "  HPFAR "
s_par:       .asciz "PAR     "
s_value:     .asciz "EL0 value "
s_remap:     .asciz "after TLBI VAE1IS "
s_done:      .asciz "done\n"
