"""The `virt` board's physical memory map and interrupt numbers: the one place they are stated.

Values as QEMU's ``virt`` machine (aarch64, GICv3) lays them out; see
../shared/reference/platform.md. The DTB generator, the core's device dispatch, the loader and the
firmware's generated include all read them from here.
"""

FLASH_BASE = 0x0000_0000
FLASH_SIZE = 0x0800_0000
FLASH_BANK_SIZE = 0x0400_0000   # two CFI banks: 0 the firmware (--bios), 1 the variables
FLASH_SECTOR_SIZE = 0x4_0000    # 256 KiB erase blocks (QEMU virt's VIRT_FLASH_SECTOR_SIZE)
GICD_BASE = 0x0800_0000
GICD_SIZE = 0x0001_0000
GICR_BASE = 0x080A_0000
GICR_SIZE = 0x00F6_0000
GICR_STRIDE = 0x2_0000      # RD_base + SGI_base frames per PE
UART_BASE = 0x0900_0000
UART_SIZE = 0x1000
RTC_BASE = 0x0901_0000
RTC_SIZE = 0x1000
VIRTIO_BASE = 0x0A00_0000
VIRTIO_SIZE = 0x200
VIRTIO_COUNT = 32
RAM_BASE = 0x4000_0000
RAM_SIZE_DEFAULT = 128 << 20
RAM_SIZE_MAX = 16 << 30     # RAM plus its decode cache (8 bytes per 4-byte word) is 3x this
#                             in host address space, committed only where touched (Machine)

# Interrupt IDs (GIC INTIDs)
GIC_NUM_INTIDS = 256         # INTIDs 0-255: SGIs 0-15, PPIs 16-31, SPIs 32-255 (ITLinesNumber 7)
UART_SPI = 1                 # INTID 33
RTC_SPI = 2
VIRTIO_SPI_BASE = 16
PPI_PMU = 23
PPI_GIC_MAINTENANCE = 25
PPI_HYP_TIMER = 26           # CNTHP
PPI_VIRT_TIMER = 27          # CNTV
PPI_SEC_PHYS_TIMER = 29
PPI_PHYS_TIMER = 30          # CNTP (non-secure EL1)

MAX_PES = 8
