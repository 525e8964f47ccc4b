// hvc-fuzz: random hypercalls, each checked against what the SMC Calling Convention and PSCI
// say the hypervisor must answer.
//
// NCALLS times: a function ID drawn from the interesting ranges (PSCI SMC32/SMC64, the SMCCC
// architecture calls, armvirt's vendor hypervisor calls, anything at all) with random upper
// bits in X0, random X1..X3, a known pattern in X4..X17, through HVC #0 (or, one time in eight,
// an HVC with another immediate). After the call the guest checks X0 against its own model
// of the answer (NOT_SUPPORTED for what is not implemented, the exact value or error code for
// what is) and that X4..X17 were preserved (SMCCC v1.1). Calls that would end or suspend the
// caller (CPU_SUSPEND, CPU_OFF, SYSTEM_OFF, SYSTEM_RESET) are skipped. Deterministic: a fixed
// xorshift64 seed. Prints a summary line, then powers off.
//
// For armvirt's hypervisor (`armvirt run build/guests/hvc-fuzz.elf`); position-independent, so
// it also runs as a VM without stage 2.

#include "guest.h"

#define NCALLS          3000
#define MAX_REPORTS     5
#define PSCI_RANGE_MASK 0xBFFFFFE0
#define NKNOWN          13              // entries of known_fids

    .global _start
    .type   _start, %function
_start:
    adr     x0, vectors
    msr     vbar_el1, x0
    adr     x0, stack_top
    mov     sp, x0
    ldr     x19, =0x2545F4914F6CDD1D    // x19: PRNG state
    mov     x20, #0                     // x20: calls made
    mov     x21, #0                     // x21: unexpected results
    mov     x28, #0                     // x28: calls skipped
next_call:
    ldr     x0, =NCALLS
    cmp     x20, x0
    b.hs    done
    bl      rand
    and     x1, x0, #7                  // which range
    lsr     x2, x0, #8
    bl      rand
    mov     x24, x0                     // upper half of X0: junk the callee must ignore
    cmp     x1, #7                      // one call in eight: a function that exists
    b.ne    1f
    mov     x3, #NKNOWN
    udiv    x4, x2, x3
    msub    x4, x4, x3, x2
    adr     x3, known_fids
    ldr     w22, [x3, x4, lsl #2]
    b       2f
1:  adr     x3, fid_ranges
    add     x3, x3, x1, lsl #4
    ldp     x4, x5, [x3]                // {base, mask}
    and     x2, x2, x5
    orr     x22, x4, x2                 // x22 = function ID (32 bits)
    mov     w22, w22
2:
    adr     x3, skipped_fids            // would stop or suspend us: skip
1:  ldr     w4, [x3], #4
    cbz     w4, 2f
    cmp     w4, w22
    b.ne    1b
    add     x28, x28, #1
    b       next_call
2:  bl      rand
    mov     x25, x0                     // x25 = X1
    tbz     x25, #63, 3f                // half the time, X1 is a known function ID (FEATURES)
    adr     x3, known_fids
    ubfx    x4, x25, #8, #3
    ldr     w25, [x3, x4, lsl #2]
3:  bl      rand
    mov     x26, x0                     // X2
    tbz     x26, #62, 4f                // often a small value (AFFINITY_INFO's level, ...)
    and     x26, x26, #3
4:  bl      rand
    mov     x27, x0                     // X3
    bl      rand                        // which HVC: #0 seven times in eight
    and     x23, x0, #7
    cbz     x23, 5f
    mov     x23, #0
    b       6f
5:  ubfx    x23, x0, #3, #2             // 0..3: HVC #1, #2, #0x1234, #0xFFFF
    add     x23, x23, #1
6:  // ---- the call
    orr     x0, x22, x24, lsl #32       // W0 = the function ID, junk above
    mov     x1, x25
    mov     x2, x26
    mov     x3, x27
    adr     x18, hvc_stubs
    add     x18, x18, x23, lsl #3
    bl      set_pattern
    blr     x18
    bl      check_pattern               // x10 = 0 if X4..X17 survived (keeps x0..x3)
    mov     x24, x10                    // x24: pattern broken?
    mov     x27, x0                     // x27: the answer
    mov     x17, x2
    bl      expected                    // x0 = what the answer must be; x1 = 1 if it may
    cbnz    x24, bad                    //   also be ALREADY_ON (-4) (CPU_ON of ourselves)
    cmp     x27, x0
    b.eq    ok
    cbz     x1, bad
    cmn     x27, #4
    b.eq    ok
bad:
    add     x21, x21, #1
    cmp     x21, #MAX_REPORTS
    b.hi    ok
    mov     x26, x0
    say     "hvc-fuzz: call "
    mov     x0, x20
    bl      putdec
    say     ": HVC #"
    mov     x0, x23
    bl      putdec
    say     " W0="
    mov     x0, x22
    bl      puthex
    say     " X1="
    mov     x0, x25
    bl      puthex
    say     " returned X0="
    mov     x0, x27
    bl      puthex
    say     ", expected "
    mov     x0, x26
    bl      puthex
    cbz     x24, 7f
    say     " (X4..X17 not preserved)"
7:  bl      newline
ok:
    add     x20, x20, #1
    b       next_call

done:
    say     "hvc-fuzz: "
    mov     x0, x20
    bl      putdec
    say     " hypercalls ("
    mov     x0, x28
    bl      putdec
    say     " destructive ones skipped), "
    mov     x0, x21
    bl      putdec
    say     " unexpected results"
    bl      newline
    b       system_off

// expected(): from x22 (function ID), x23 (HVC immediate), x25..x27 (X1..X3) -> x0 = the
// answer SMCCC/PSCI require; x1 = 1 when ALREADY_ON is also right (see CPU_ON)
expected:
    mov     x1, #0
    mov     x0, #-1                     // NOT_SUPPORTED
    cbnz    x23, 9f                     // not HVC #0: not an SMCCC call
    ldr     x2, =0x80000000             // SMCCC_VERSION: 1.1
    cmp     x22, x2
    b.ne    1f
    ldr     x0, =0x10001
    ret
1:  ldr     x2, =0xC6000000             // ARMVIRT_HC_NOP
    cmp     x22, x2
    b.ne    1f
    mov     x0, #0
    ret
1:  ldr     x2, =0xC6000001             // ARMVIRT_HC_INFO: x2 = vCPU 0, x3 = 1 vCPU
    cmp     x22, x2
    b.ne    1f
    mov     x0, #0
    cmp     x17, #0
    b.ne    8f
    ret
1:  ldr     x2, =PSCI_RANGE_MASK
    and     x2, x22, x2
    ldr     x3, =0x84000000
    cmp     x2, x3
    b.ne    9f
    mov     x4, x25                     // PSCI: SMC32 calls see 32-bit arguments
    mov     x5, x26
    tbnz    x22, #30, 2f
    mov     w4, w4
    mov     w5, w5
2:  ldr     x2, =0x84000000             // PSCI_VERSION: 1.1
    cmp     x22, x2
    b.ne    1f
    ldr     x0, =0x10001
    ret
1:  ldr     x2, =0x84000006             // MIGRATE_INFO_TYPE: no migration needed
    cmp     x22, x2
    b.ne    1f
    mov     x0, #2
    ret
1:  ldr     x2, =0x8400000A             // PSCI_FEATURES(W1)
    cmp     x22, x2
    b.ne    1f
    adr     x3, known_fids
3:  ldr     w7, [x3], #4
    cbz     w7, 9f
    cmp     w7, w4
    b.ne    3b
    mov     x0, #0
    ret
1:  and     w2, w22, #0xBFFFFFFF        // CPU_ON (SMC32 or SMC64)
    ldr     x3, =0x84000003
    cmp     x2, x3
    b.ne    1f
    mov     x0, #-2                     // INVALID_PARAMETERS: no such vCPU
    ldr     x3, =0xFF00FFFFFF
    tst     x4, x3
    b.ne    9f                          // not us (vCPU 0 is our only one)
    mov     x0, #-9                     // INVALID_ADDRESS, or ALREADY_ON if the entry is fine
    tst     x5, #3
    b.ne    9f
    mov     x1, #1
    ret
1:  ldr     x3, =0x84000004             // AFFINITY_INFO(target, level)
    cmp     x2, x3
    b.ne    9f
    mov     x0, #-2
    cbnz    x5, 9f                      // level 0 only
    ldr     x3, =0xFF00FFFFFF
    tst     x4, x3
    b.ne    9f
    mov     x0, #0                      // we are ON
9:  ret
8:  mov     x0, #-99                    // a wrong INFO answer: cannot match
    ret

// set_pattern: X4..X17 = a value derived from the call number; check_pattern: x10 = 0 if
// they still hold it (x0..x3 kept; uses x18, x24, x29)
set_pattern:
    lsl     x4, x20, #8
    add     x5, x4, #5
    add     x6, x4, #6
    add     x7, x4, #7
    add     x8, x4, #8
    add     x9, x4, #9
    add     x10, x4, #10
    add     x11, x4, #11
    add     x12, x4, #12
    add     x13, x4, #13
    add     x14, x4, #14
    add     x15, x4, #15
    add     x16, x4, #16
    add     x17, x4, #17
    add     x4, x4, #4
    ret
check_pattern:
    lsl     x18, x20, #8
    add     x29, x18, #4
    eor     x24, x29, x4
    .irp    r, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17
    add     x29, x18, #\r
    eor     x29, x29, x\r
    orr     x24, x24, x29
    .endr
    mov     x10, x24
    ret

// rand: xorshift64 on x19 -> x0
rand:
    eor     x19, x19, x19, lsl #13
    eor     x19, x19, x19, lsr #7
    eor     x19, x19, x19, lsl #17
    mov     x0, x19
    ret

    .balign 8
hvc_stubs:                              // 8 bytes each: the call, then back
    hvc     #0
    ret
    hvc     #1
    ret
    hvc     #2
    ret
    hvc     #0x1234
    ret
    hvc     #0xFFFF
    ret

    .balign 8
fid_ranges:                             // {base, mask of the random bits}
    .quad   0x84000000, 0x1F            // PSCI SMC32
    .quad   0xC4000000, 0x1F            // PSCI SMC64
    .quad   0x80000000, 0x7             // SMCCC architecture calls
    .quad   0xC6000000, 0x3             // armvirt's calls (and beyond)
    .quad   0x86000000, 0xFFFF          // vendor hypervisor service, SMC32
    .quad   0x00000000, 0xFFFFFFFF      // anything
    .quad   0xC4000000, 0x3FFFFFFF      // anything SMC64 fast
    .quad   0, 0                        // (7: one of known_fids)

skipped_fids:
    .word   0x84000001, 0xC4000001      // CPU_SUSPEND
    .word   0x84000002                  // CPU_OFF
    .word   0x84000008, 0x84000009      // SYSTEM_OFF, SYSTEM_RESET
    .word   0

known_fids:                             // what PSCI_FEATURES must call supported (the first
    .word   0x84000000, 0x8400000A, 0x84000001, 0xC4000001   // 8 are also the X1 table)
    .word   0x84000002, 0x84000003, 0xC4000003, 0x84000004
    .word   0xC4000004, 0x84000006, 0x84000008, 0x84000009
    .word   0x80000000
    .word   0

// Any exception at EL1 is a failure of the hypervisor's promise: report and stop.
    .balign 0x800
vectors:
    .rept   16
    .balign 0x80
    b       unexpected
    .endr
unexpected:
    say     "hvc-fuzz: unexpected exception, ESR_EL1="
    mrs     x0, esr_el1
    bl      puthex
    say     " ELR_EL1="
    mrs     x0, elr_el1
    bl      puthex
    bl      newline
    b       system_off

#include "guest_lib.S"
    .ltorg
    .balign 16
    .space  4096
stack_top:
