// armvirt's hypervisor: the top of the firmware image.
//
// Built twice by armvirt/build.py (`make firmware`), from the same sources:
//   HV_SPLIT  — KVM/ARM's split mode: a small EL2 part (hyp/) and a host part (host/) that runs
//               at EL1 in its own context and handles the exits; every exit is a round trip
//               host -> EL2 -> guest -> EL2 -> host.
//   HV_DIRECT — the same exit handlers (host/) run at EL2, straight after the guest exits
//               (the Type-1, Xen-like design); no host context, EL1 state switched lazily.
// See firmware/README.md for the map, the world switch and where to add an exit handler.
//
// One flat image at HV_BASE, in this order: boot code, EL2 part, host part, library, data.

#include "hv_abi.h"
#include "macros.h"

#if defined(HV_SPLIT) && defined(HV_DIRECT)
#error "build either HV_SPLIT or HV_DIRECT"
#endif
#if !defined(HV_SPLIT) && !defined(HV_DIRECT)
#error "define HV_SPLIT or HV_DIRECT"
#endif

#include "boot.S"
#include "hyp/vectors.S"
#include "hyp/switch.S"
#include "hyp/vgic-v3-sr.S"
#include "hyp/hyp-main.S"
#include "hyp/stage2.S"
#include "host/run.S"
#include "host/exits.S"
#include "host/psci.S"
#include "host/mmio.S"
#include "host/vflash.S"
#include "host/sysreg.S"
#include "host/ptimer.S"
#include "host/pmu.S"
#include "host/inject.S"
#include "host/vgic.S"
#include "lib/console.S"
#include "lib/gic.S"
    .ltorg                              // the literal pool, before the (large) data
#include "data.S"
