package dev.vgpuhil.protocol;

import java.util.Arrays;
import java.util.Optional;

/**
 * Java view of {@code vgpu-stub/vgpu_protocol.h}. Every {@code VGPU_FOO} define has a constant
 * {@code FOO} here (same name minus the {@code VGPU_} prefix); VgpuProtocolHeaderTest compiles the
 * header with gcc and fails if any value differs or any define lacks a Java counterpart.
 */
public final class VgpuProtocol {
    private VgpuProtocol() {}

    // ---- PCI identity
    public static final int PCI_VENDOR_ID = 0x1234;
    public static final int PCI_DEVICE_ID = 0x5647;
    public static final int PCI_REVISION = 0x02;
    public static final int PCI_CLASS = 0x0380;

    // ---- BAR0 layout
    public static final int BAR0_SIZE = 0x1000;

    public static final int REG_DOORBELL = 0x000;
    public static final int REG_STATUS = 0x004;
    public static final int REG_POOL_ID = 0x008;
    public static final int REG_PRIORITY = 0x00C;
    public static final int REG_VM_ID = 0x010;
    public static final int REG_ERROR_CODE = 0x014;
    public static final int REG_REQUEST_LEN = 0x018;
    public static final int REG_RESPONSE_LEN = 0x01C;
    public static final int REG_PROTOCOL_VER = 0x020;
    public static final int REG_CAPABILITIES = 0x024;
    public static final int REG_IRQ_CTRL = 0x028;
    public static final int REG_IRQ_STATUS = 0x02C;
    public static final int REG_REQUEST_ID = 0x030;
    public static final int REG_TIMESTAMP_LO = 0x034;
    public static final int REG_TIMESTAMP_HI = 0x038;
    public static final int REG_SCRATCH = 0x03C;
    public static final int REG_COUNT = 16;
    public static final int REG_AREA_SIZE = 0x040;

    /**
     * The registers in BAR0 order, each with its name and offset: the Java view of the header's
     * {@code VGPU_REGISTERS(X)} X-macro (VgpuProtocolHeaderTest compares both lists entry by entry).
     * Register dumps and log lines take their names from here.
     */
    public enum Register {
        DOORBELL(REG_DOORBELL),
        STATUS(REG_STATUS),
        POOL_ID(REG_POOL_ID),
        PRIORITY(REG_PRIORITY),
        VM_ID(REG_VM_ID),
        ERROR_CODE(REG_ERROR_CODE),
        REQUEST_LEN(REG_REQUEST_LEN),
        RESPONSE_LEN(REG_RESPONSE_LEN),
        PROTOCOL_VER(REG_PROTOCOL_VER),
        CAPABILITIES(REG_CAPABILITIES),
        IRQ_CTRL(REG_IRQ_CTRL),
        IRQ_STATUS(REG_IRQ_STATUS),
        REQUEST_ID(REG_REQUEST_ID),
        TIMESTAMP_LO(REG_TIMESTAMP_LO),
        TIMESTAMP_HI(REG_TIMESTAMP_HI),
        SCRATCH(REG_SCRATCH);

        private final int offset;

        Register(int offset) {
            this.offset = offset;
        }

        /** Byte offset in BAR0. */
        public int offset() {
            return offset;
        }

        /** The register at a BAR0 offset, if one is there. */
        public static Optional<Register> at(int offset) {
            return Arrays.stream(values()).filter(r -> r.offset == offset).findFirst();
        }
    }

    public static final int REQ_BUFFER_OFFSET = 0x040;
    public static final int REQ_BUFFER_SIZE = 1024;
    public static final int RESP_BUFFER_OFFSET = 0x440;
    public static final int RESP_BUFFER_SIZE = 1024;
    public static final int RESERVED_OFFSET = 0x840;
    public static final int RESERVED_SIZE = 1976;

    // ---- register values
    public static final int DOORBELL_RING = 1;

    public static final int STATUS_IDLE = 0;
    public static final int STATUS_BUSY = 1;
    public static final int STATUS_DONE = 2;
    public static final int STATUS_ERROR = 3;

    public static final int POOL_A = 0x41;
    public static final int POOL_B = 0x42;

    public static final int PRIORITY_LOW = 0;
    public static final int PRIORITY_MEDIUM = 1;
    public static final int PRIORITY_HIGH = 2;

    public static final int PROTOCOL_MAJOR = 1;
    public static final int PROTOCOL_MINOR = 0;
    public static final int PROTOCOL_VERSION = 0x00010000;

    public static final int CAP_BASIC = 1 << 0;
    public static final int CAP_IRQ = 1 << 1;
    public static final int CAP_MSI = 1 << 2;
    public static final int CAP_TIMESTAMP = 1 << 3;

    public static final int IRQ_CTRL_ENABLE = 1 << 0;

    public static final int IRQ_STATUS_COMPLETE = 1 << 0;
    public static final int IRQ_STATUS_ERROR = 1 << 1;

    // ---- error codes
    public static final int ERR_NONE = 0x00;
    public static final int ERR_INVALID_LENGTH = 0x01;
    public static final int ERR_MEDIATOR_UNAVAILABLE = 0x02;
    public static final int ERR_BUSY = 0x03;
    public static final int ERR_TIMEOUT = 0x04;
    public static final int ERR_PROTOCOL = 0x05;
    public static final int ERR_REJECTED = 0x06;
    public static final int ERR_BACKEND = 0x07;
    public static final int ERR_QUEUE_FULL = 0x08;
    public static final int ERR_BAD_OPCODE = 0x09;
    public static final int ERR_BAD_PAYLOAD = 0x0A;
    public static final int ERR_NOT_PERMITTED = 0x0B;
    public static final int ERR_VERSION = 0x0C;
    public static final int ERR_SHUTDOWN = 0x0D;

    // ---- socket framing
    public static final String SOCKET_PATH_DEFAULT = "/tmp/vgpu-mediator.sock";
    /** bytes 'V','G','P','U' read as a little-endian u32. */
    public static final int SOCKET_MAGIC = 0x55504756;

    public static final int MAX_PAYLOAD = 1024;

    public static final int MSG_HELLO = 1;
    public static final int MSG_HELLO_ACK = 2;
    public static final int MSG_REQUEST = 3;
    public static final int MSG_RESPONSE = 4;
    public static final int MSG_STATS_REQUEST = 5;
    public static final int MSG_STATS_REPLY = 6;

    public static final int FLAG_NONE = 0;

    public static final int SOCKET_HEADER_SIZE = 32;

    /** Byte offsets of the VGPUSocketHeader fields (checked against offsetof by the header test). */
    public static final class HeaderOffsets {
        private HeaderOffsets() {}

        public static final int MAGIC = 0;
        public static final int VERSION = 4;
        public static final int MSG_TYPE = 8;
        public static final int FLAGS = 10;
        public static final int VM_ID = 12;
        public static final int POOL_ID = 16;
        public static final int PRIORITY = 17;
        public static final int RESERVED = 18;
        public static final int REQUEST_ID = 20;
        public static final int PAYLOAD_LEN = 24;
        public static final int STATUS = 28;
    }

    // ---- request payload
    public static final int OP_ECHO = 0;
    public static final int OP_VECTOR_ADD = 1;
    public static final int OP_SCALE = 2;
    public static final int OP_SAXPY = 3;
    public static final int OP_CHECKSUM = 4;

    public static final int REQUEST_HEADER_SIZE = 8;
    public static final int VECTOR_ADD_MAX_ELEMENTS = 127;

    /** Byte offsets of the VGPURequest fields. */
    public static final class RequestOffsets {
        private RequestOffsets() {}

        public static final int OPCODE = 0;
        public static final int COUNT = 4;
        public static final int OPERANDS = 8;
    }

    /** Major part of a packed version word (high 16 bits). */
    public static int majorOf(int version) {
        return version >>> 16;
    }

    /** Minor part of a packed version word (low 16 bits). */
    public static int minorOf(int version) {
        return version & 0xFFFF;
    }

    /** Human name of a STATUS register value, e.g. "DONE"; "UNKNOWN(7)" for anything else. */
    public static String statusName(int status) {
        return switch (status) {
            case STATUS_IDLE -> "IDLE";
            case STATUS_BUSY -> "BUSY";
            case STATUS_DONE -> "DONE";
            case STATUS_ERROR -> "ERROR";
            default -> "UNKNOWN(" + Integer.toUnsignedString(status) + ")";
        };
    }

    /** Human name of a message type, e.g. "HELLO_ACK"; "UNKNOWN(9)" for anything else. */
    public static String messageTypeName(int msgType) {
        return switch (msgType) {
            case MSG_HELLO -> "HELLO";
            case MSG_HELLO_ACK -> "HELLO_ACK";
            case MSG_REQUEST -> "REQUEST";
            case MSG_RESPONSE -> "RESPONSE";
            case MSG_STATS_REQUEST -> "STATS_REQUEST";
            case MSG_STATS_REPLY -> "STATS_REPLY";
            default -> "UNKNOWN(" + msgType + ")";
        };
    }

    /** Human name of an opcode, e.g. "VECTOR_ADD"; "UNKNOWN(9)" for anything else. */
    public static String opcodeName(int opcode) {
        return switch (opcode) {
            case OP_ECHO -> "ECHO";
            case OP_VECTOR_ADD -> "VECTOR_ADD";
            case OP_SCALE -> "SCALE";
            case OP_SAXPY -> "SAXPY";
            case OP_CHECKSUM -> "CHECKSUM";
            default -> "UNKNOWN(" + Integer.toUnsignedString(opcode) + ")";
        };
    }

    /** The VGPU_ERR_* codes as an enum. */
    public enum ErrorCode {
        NONE(ERR_NONE),
        INVALID_LENGTH(ERR_INVALID_LENGTH),
        MEDIATOR_UNAVAILABLE(ERR_MEDIATOR_UNAVAILABLE),
        BUSY(ERR_BUSY),
        TIMEOUT(ERR_TIMEOUT),
        PROTOCOL(ERR_PROTOCOL),
        REJECTED(ERR_REJECTED),
        BACKEND(ERR_BACKEND),
        QUEUE_FULL(ERR_QUEUE_FULL),
        BAD_OPCODE(ERR_BAD_OPCODE),
        BAD_PAYLOAD(ERR_BAD_PAYLOAD),
        NOT_PERMITTED(ERR_NOT_PERMITTED),
        VERSION(ERR_VERSION),
        SHUTDOWN(ERR_SHUTDOWN);

        private final int code;

        ErrorCode(int code) {
            this.code = code;
        }

        public int code() {
            return code;
        }

        /** The enum for a wire/register code, or empty for a code this side does not know. */
        public static Optional<ErrorCode> fromCode(int code) {
            return Arrays.stream(values()).filter(e -> e.code == code).findFirst();
        }

        /** "TIMEOUT" for 4, "UNKNOWN(0x2a)" for a code without a name. */
        public static String nameOf(int code) {
            return fromCode(code).map(Enum::name).orElse("UNKNOWN(0x" + Integer.toHexString(code) + ")");
        }
    }
}
