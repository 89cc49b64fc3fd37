/*
 * vgpu_protocol.h - the single source of truth for the vgpu-stub v2 protocol.
 *
 * Shared by the QEMU device (vgpu-stub.c), the guest test program, and - via
 * a test that compiles this header and compares every value - the Java side
 * (vgpu-protocol module: VgpuProtocol.java, Frame.java).
 *
 * Everything on the wire and in BAR0 is little-endian.
 */
#ifndef VGPU_PROTOCOL_H
#define VGPU_PROTOCOL_H

#include <stdint.h>

/* ---- PCI identity ---------------------------------------------------- */
#define VGPU_PCI_VENDOR_ID        0x1234  /* QEMU's "unassigned" vendor, as edu */
#define VGPU_PCI_DEVICE_ID        0x5647  /* 'VG' */
#define VGPU_PCI_REVISION         0x02    /* v2: MMIO communication */
#define VGPU_PCI_CLASS            0x0380  /* display controller, other */

/* ---- BAR0 layout (4 KiB) --------------------------------------------- */
#define VGPU_BAR0_SIZE            0x1000

/*
 * Registers: 32-bit, little-endian, 32-bit accesses only.  The one list of
 * names and offsets: X(NAME, OFFSET) per register, in offset order.  It
 * generates the VGPU_REG_* offsets, VGPU_REG_COUNT and vgpu_reg_name() below;
 * VgpuProtocolHeaderTest checks that Java's VgpuProtocol.Register equals it.
 */
#define VGPU_REGISTERS(X)                                                   \
    X(DOORBELL,     0x000)  /* WO   write 1 to submit; reads 0 */           \
    X(STATUS,       0x004)  /* RO   VGPU_STATUS_*              */           \
    X(POOL_ID,      0x008)  /* RO   'A' (0x41) or 'B' (0x42)   */           \
    X(PRIORITY,     0x00C)  /* RO   VGPU_PRIORITY_*            */           \
    X(VM_ID,        0x010)  /* RO   32-bit VM identifier       */           \
    X(ERROR_CODE,   0x014)  /* RO   VGPU_ERR_* when STATUS=3   */           \
    X(REQUEST_LEN,  0x018)  /* RW   request byte count         */           \
    X(RESPONSE_LEN, 0x01C)  /* RO   response byte count        */           \
    X(PROTOCOL_VER, 0x020)  /* RO   VGPU_PROTOCOL_VERSION      */           \
    X(CAPABILITIES, 0x024)  /* RO   VGPU_CAP_*                 */           \
    X(IRQ_CTRL,     0x028)  /* RW   VGPU_IRQ_CTRL_*            */           \
    X(IRQ_STATUS,   0x02C)  /* RW1C VGPU_IRQ_STATUS_*          */           \
    X(REQUEST_ID,   0x030)  /* RW   request tracking number    */           \
    X(TIMESTAMP_LO, 0x034)  /* RO   completion time, low 32    */           \
    X(TIMESTAMP_HI, 0x038)  /* RO   completion time, high 32   */           \
    X(SCRATCH,      0x03C)  /* RW   test register              */

/* VGPU_REG_DOORBELL = 0x000, ... */
#define VGPU_REG_ENUM_ENTRY_(name, offset) VGPU_REG_##name = (offset),
enum VgpuRegister { VGPU_REGISTERS(VGPU_REG_ENUM_ENTRY_) };
#define VGPU_REG_COUNT_ENTRY_(name, offset) + 1
enum { VGPU_REG_COUNT = 0 VGPU_REGISTERS(VGPU_REG_COUNT_ENTRY_) };

/* "DOORBELL", ... for a register offset; NULL for any other offset. */
#define VGPU_REG_NAME_CASE_(name, offset) case (offset): return #name;
static inline const char *vgpu_reg_name(uint32_t offset)
{
    switch (offset) {
    VGPU_REGISTERS(VGPU_REG_NAME_CASE_)
    default: return 0;
    }
}
#define VGPU_REG_AREA_SIZE        0x040

/* Buffers: byte-addressable (1-4 byte accesses). */
#define VGPU_REQ_BUFFER_OFFSET    0x040   /* RW   request payload            */
#define VGPU_REQ_BUFFER_SIZE      1024
#define VGPU_RESP_BUFFER_OFFSET   0x440   /* RO   response payload           */
#define VGPU_RESP_BUFFER_SIZE     1024
#define VGPU_RESERVED_OFFSET      0x840   /* reads 0, writes ignored         */
#define VGPU_RESERVED_SIZE        1976

/* ---- Register values ------------------------------------------------- */
#define VGPU_DOORBELL_RING        1

#define VGPU_STATUS_IDLE          0
#define VGPU_STATUS_BUSY          1
#define VGPU_STATUS_DONE          2
#define VGPU_STATUS_ERROR         3

#define VGPU_POOL_A               0x41    /* 'A' */
#define VGPU_POOL_B               0x42    /* 'B' */

#define VGPU_PRIORITY_LOW         0
#define VGPU_PRIORITY_MEDIUM      1
#define VGPU_PRIORITY_HIGH        2

/* major in the high 16 bits, minor in the low 16 bits: 0x00010000 = v1.0 */
#define VGPU_PROTOCOL_MAJOR       1
#define VGPU_PROTOCOL_MINOR       0
#define VGPU_PROTOCOL_VERSION     0x00010000

#define VGPU_CAP_BASIC            (1u << 0)  /* doorbell + buffers           */
#define VGPU_CAP_IRQ              (1u << 1)  /* completion interrupt         */
#define VGPU_CAP_MSI              (1u << 2)  /* ...delivered by MSI if on    */
#define VGPU_CAP_TIMESTAMP        (1u << 3)  /* TIMESTAMP_LO/HI at completion*/

#define VGPU_IRQ_CTRL_ENABLE      (1u << 0)  /* raise an interrupt on completion */

#define VGPU_IRQ_STATUS_COMPLETE  (1u << 0)  /* a request completed (done or error) */
#define VGPU_IRQ_STATUS_ERROR     (1u << 1)  /* ...and it completed with an error   */

/* ---- Error codes (ERROR_CODE register, and status field of replies) -- */
#define VGPU_ERR_NONE                  0x00
#define VGPU_ERR_INVALID_LENGTH        0x01  /* REQUEST_LEN is 0 or > 1024          */
#define VGPU_ERR_MEDIATOR_UNAVAILABLE  0x02  /* no mediator, or it went away        */
#define VGPU_ERR_BUSY                  0x03  /* doorbell while a request is in flight */
#define VGPU_ERR_TIMEOUT               0x04  /* no reply before the deadline        */
#define VGPU_ERR_PROTOCOL              0x05  /* malformed or oversized reply/frame  */
#define VGPU_ERR_REJECTED              0x06  /* mediator refused the request        */
#define VGPU_ERR_BACKEND               0x07  /* compute backend failed              */
#define VGPU_ERR_QUEUE_FULL            0x08  /* per-VM queue cap reached            */
#define VGPU_ERR_BAD_OPCODE            0x09  /* unknown opcode                      */
#define VGPU_ERR_BAD_PAYLOAD           0x0A  /* element count disagrees with length */
#define VGPU_ERR_NOT_PERMITTED         0x0B  /* vm_id / priority not allowed        */
#define VGPU_ERR_VERSION               0x0C  /* protocol major version mismatch     */
#define VGPU_ERR_SHUTDOWN              0x0D  /* mediator shutting down              */

/* ---- Socket framing (device <-> mediator) ---------------------------- */
#define VGPU_SOCKET_PATH_DEFAULT  "/tmp/vgpu-mediator.sock"
#define VGPU_SOCKET_MAGIC         0x55504756u   /* bytes 'V','G','P','U' */
#define VGPU_MAX_PAYLOAD          1024

#define VGPU_MSG_HELLO            1  /* device -> mediator, first frame, no payload   */
#define VGPU_MSG_HELLO_ACK        2  /* mediator -> device, version = negotiated      */
#define VGPU_MSG_REQUEST          3  /* device -> mediator, payload = request         */
#define VGPU_MSG_RESPONSE         4  /* mediator -> device, status = VGPU_ERR_*       */
#define VGPU_MSG_STATS_REQUEST    5  /* any client -> mediator, no payload            */
#define VGPU_MSG_STATS_REPLY      6  /* mediator -> client, payload = UTF-8 JSON      */

#define VGPU_FLAG_NONE            0

/* Fixed 32-byte header, then payload_len bytes of payload. */
typedef struct __attribute__((packed)) VGPUSocketHeader {
    uint32_t magic;        /*  0: VGPU_SOCKET_MAGIC                       */
    uint32_t version;      /*  4: VGPU_PROTOCOL_VERSION                   */
    uint16_t msg_type;     /*  8: VGPU_MSG_*                              */
    uint16_t flags;        /* 10: VGPU_FLAG_*                             */
    uint32_t vm_id;        /* 12                                          */
    uint8_t  pool_id;      /* 16: VGPU_POOL_A / VGPU_POOL_B               */
    uint8_t  priority;     /* 17: VGPU_PRIORITY_*                         */
    uint16_t reserved;     /* 18: 0                                       */
    uint32_t request_id;   /* 20: echoed in the reply                     */
    uint32_t payload_len;  /* 24: <= VGPU_MAX_PAYLOAD                     */
    uint32_t status;       /* 28: VGPU_ERR_* in replies, 0 in requests    */
} VGPUSocketHeader;
#define VGPU_SOCKET_HEADER_SIZE   32

/* ---- Request payload (request buffer, and REQUEST frame payload) ----- */
#define VGPU_OP_ECHO              0  /* operands: count bytes; result: same bytes             */
#define VGPU_OP_VECTOR_ADD        1  /* operands: a[count], b[count] f32; result: a+b f32      */
#define VGPU_OP_SCALE             2  /* operands: alpha f32, x[count] f32; result: alpha*x     */
#define VGPU_OP_SAXPY             3  /* operands: alpha f32, x[count], y[count]; alpha*x+y     */
#define VGPU_OP_CHECKSUM          4  /* operands: count bytes; result: CRC-32 (IEEE) u32      */

typedef struct __attribute__((packed)) VGPURequest {
    uint32_t opcode;       /* 0: VGPU_OP_*                                */
    uint32_t count;        /* 4: element count (bytes for ECHO/CHECKSUM)  */
    uint8_t  operands[];   /* 8: see VGPU_OP_*                            */
} VGPURequest;
#define VGPU_REQUEST_HEADER_SIZE  8
/* (1024 - 8) / 8: the largest vector add that fits the request buffer */
#define VGPU_VECTOR_ADD_MAX_ELEMENTS 127

#endif /* VGPU_PROTOCOL_H */
