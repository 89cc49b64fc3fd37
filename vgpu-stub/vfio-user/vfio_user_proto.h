/*
 * vfio_user_proto.h - the vfio-user wire format this server speaks.
 *
 * Written from the protocol text (QEMU's docs/interop/vfio-user.rst, protocol
 * version 0.0, the one QEMU's vfio-user-pci client proposes).  The region,
 * IRQ and flag numbers are the kernel VFIO ABI, taken from <linux/vfio.h>.
 * All fields are in host byte order (the protocol says so).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VFIO_USER_PROTO_H
#define VFIO_USER_PROTO_H

#include <stdint.h>
#include <linux/vfio.h>

#define VFU_VERSION_MAJOR 0
#define VFU_VERSION_MINOR 0

/* Commands (header "Command" field). */
enum VfuCommand {
    VFU_CMD_VERSION              = 1,
    VFU_CMD_DMA_MAP              = 2,
    VFU_CMD_DMA_UNMAP            = 3,
    VFU_CMD_DEVICE_GET_INFO      = 4,
    VFU_CMD_DEVICE_GET_REGION_INFO = 5,
    VFU_CMD_DEVICE_GET_REGION_IO_FDS = 6,
    VFU_CMD_DEVICE_GET_IRQ_INFO  = 7,
    VFU_CMD_DEVICE_SET_IRQS      = 8,
    VFU_CMD_REGION_READ          = 9,
    VFU_CMD_REGION_WRITE         = 10,
    VFU_CMD_DMA_READ             = 11,
    VFU_CMD_DMA_WRITE            = 12,
    VFU_CMD_DEVICE_RESET         = 13,
    VFU_CMD_REGION_WRITE_MULTI   = 15,
    VFU_CMD_DEVICE_FEATURE       = 16,
    VFU_CMD_MIG_DATA_READ        = 17,
    VFU_CMD_MIG_DATA_WRITE       = 18,
};

/* Header "Flags" field. */
#define VFU_FLAG_TYPE_MASK   0xFu
#define VFU_FLAG_TYPE_COMMAND 0x0u
#define VFU_FLAG_TYPE_REPLY  0x1u
#define VFU_FLAG_NO_REPLY    (1u << 4)
#define VFU_FLAG_ERROR       (1u << 5)

/* Every message starts with this 16-byte header. */
typedef struct __attribute__((packed)) VfuHeader {
    uint16_t msg_id;
    uint16_t command;
    uint32_t msg_size;   /* whole message, header included */
    uint32_t flags;
    uint32_t error;      /* errno in an error reply */
} VfuHeader;
#define VFU_HEADER_SIZE 16

/* VERSION: major, minor, then optional NUL-terminated JSON. */
typedef struct __attribute__((packed)) VfuVersion {
    uint16_t major;
    uint16_t minor;
} VfuVersion;

/* DMA_MAP request. */
typedef struct __attribute__((packed)) VfuDmaMap {
    uint32_t argsz;
    uint32_t flags;      /* bit 0 readable, bit 1 writeable */
    uint64_t offset;     /* file offset in the passed fd, if any */
    uint64_t address;
    uint64_t size;
} VfuDmaMap;

/* DMA_UNMAP request and reply. */
typedef struct __attribute__((packed)) VfuDmaUnmap {
    uint32_t argsz;
    uint32_t flags;      /* VFIO_DMA_UNMAP_FLAG_ALL: every mapping */
    uint64_t address;
    uint64_t size;
} VfuDmaUnmap;

/* DEVICE_GET_INFO request and reply. */
typedef struct __attribute__((packed)) VfuDeviceInfo {
    uint32_t argsz;
    uint32_t flags;      /* VFIO_DEVICE_FLAGS_* */
    uint32_t num_regions;
    uint32_t num_irqs;
} VfuDeviceInfo;

/* DEVICE_GET_REGION_INFO request and reply. */
typedef struct __attribute__((packed)) VfuRegionInfo {
    uint32_t argsz;
    uint32_t flags;      /* VFIO_REGION_INFO_FLAG_* */
    uint32_t index;
    uint32_t cap_offset;
    uint64_t size;
    uint64_t offset;
} VfuRegionInfo;

/* DEVICE_GET_IRQ_INFO request and reply. */
typedef struct __attribute__((packed)) VfuIrqInfo {
    uint32_t argsz;
    uint32_t flags;      /* VFIO_IRQ_INFO_* */
    uint32_t index;
    uint32_t count;
} VfuIrqInfo;

/* DEVICE_SET_IRQS request (then count bools for DATA_BOOL). */
typedef struct __attribute__((packed)) VfuIrqSet {
    uint32_t argsz;
    uint32_t flags;      /* one VFIO_IRQ_SET_DATA_*, one VFIO_IRQ_SET_ACTION_* */
    uint32_t index;
    uint32_t start;
    uint32_t count;
} VfuIrqSet;

/* REGION_READ / REGION_WRITE request and reply (then count data bytes). */
typedef struct __attribute__((packed)) VfuRegionAccess {
    uint64_t offset;
    uint32_t region;
    uint32_t count;
} VfuRegionAccess;

_Static_assert(sizeof(VfuHeader) == VFU_HEADER_SIZE, "vfio-user header");
_Static_assert(sizeof(VfuDmaMap) == 32, "DMA_MAP payload");
_Static_assert(sizeof(VfuDmaUnmap) == 24, "DMA_UNMAP payload");
_Static_assert(sizeof(VfuDeviceInfo) == 16, "DEVICE_GET_INFO payload");
_Static_assert(sizeof(VfuRegionInfo) == 32, "GET_REGION_INFO payload");
_Static_assert(sizeof(VfuIrqInfo) == 16, "GET_IRQ_INFO payload");
_Static_assert(sizeof(VfuIrqSet) == 20, "SET_IRQS payload");
_Static_assert(sizeof(VfuRegionAccess) == 16, "REGION_READ/WRITE payload");

#endif /* VFIO_USER_PROTO_H */
