package dev.vgpuhil.protocol;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * One device&lt;-&gt;mediator socket frame: the 32-byte little-endian {@code VGPUSocketHeader} plus payload.
 * Field values are unsigned on the wire; u8/u16 fields are held in the low bits of an int.
 *
 * <p>{@code payloadLen} is kept as its own field so a test can encode a deliberately inconsistent frame;
 * {@link #of} and {@link #reply} keep it equal to {@code payload.length}.
 */
public record Frame(
        int magic,
        int version,
        int msgType,
        int flags,
        int vmId,
        int poolId,
        int priority,
        int reserved,
        int requestId,
        int payloadLen,
        int status,
        byte[] payload) {

    public Frame {
        payload = payload == null ? new byte[0] : payload.clone();
    }

    /** A well-formed frame with the current magic and protocol version. */
    public static Frame of(int msgType, int vmId, int poolId, int priority, int requestId, int status, byte[] payload) {
        byte[] p = payload == null ? new byte[0] : payload;
        return new Frame(
                SOCKET_MAGIC,
                PROTOCOL_VERSION,
                msgType,
                FLAG_NONE,
                vmId,
                poolId,
                priority,
                0,
                requestId,
                p.length,
                status,
                p);
    }

    /** The answer to this frame: same vm/pool/priority/request_id, given type, status and payload. */
    public Frame reply(int replyType, int replyStatus, byte[] replyPayload) {
        return of(replyType, vmId, poolId, priority, requestId, replyStatus, replyPayload);
    }

    @Override
    public byte[] payload() {
        return payload.clone();
    }

    public Frame withPayloadLen(int newPayloadLen) {
        return new Frame(
                magic,
                version,
                msgType,
                flags,
                vmId,
                poolId,
                priority,
                reserved,
                requestId,
                newPayloadLen,
                status,
                payload);
    }

    public Frame withRequestId(int newRequestId) {
        return new Frame(
                magic,
                version,
                msgType,
                flags,
                vmId,
                poolId,
                priority,
                reserved,
                newRequestId,
                payloadLen,
                status,
                payload);
    }

    public Frame withVersion(int newVersion) {
        return new Frame(
                magic,
                newVersion,
                msgType,
                flags,
                vmId,
                poolId,
                priority,
                reserved,
                requestId,
                payloadLen,
                status,
                payload);
    }

    public Frame withMagic(int newMagic) {
        return new Frame(
                newMagic,
                version,
                msgType,
                flags,
                vmId,
                poolId,
                priority,
                reserved,
                requestId,
                payloadLen,
                status,
                payload);
    }

    public Frame withStatus(int newStatus) {
        return new Frame(
                magic,
                version,
                msgType,
                flags,
                vmId,
                poolId,
                priority,
                reserved,
                requestId,
                payloadLen,
                newStatus,
                payload);
    }

    /** Header followed by the payload bytes (exactly as held, whatever payloadLen says). */
    public byte[] encode() {
        ByteBuffer buf =
                ByteBuffer.allocate(SOCKET_HEADER_SIZE + payload.length).order(ByteOrder.LITTLE_ENDIAN);
        encodeTo(buf);
        return buf.array();
    }

    /** Writes header + payload at the buffer's position (the buffer's byte order is left untouched). */
    public void encodeTo(ByteBuffer out) {
        ByteBuffer le = out.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        le.putInt(magic)
                .putInt(version)
                .putShort((short) msgType)
                .putShort((short) flags)
                .putInt(vmId)
                .put((byte) poolId)
                .put((byte) priority)
                .putShort((short) reserved)
                .putInt(requestId)
                .putInt(payloadLen)
                .putInt(status)
                .put(payload);
        out.position(le.position());
    }

    public void writeTo(WritableByteChannel channel) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(encode());
        while (buf.hasRemaining()) {
            channel.write(buf);
        }
    }

    /**
     * Decodes and validates a 32-byte header; the returned frame has an empty payload and the header's
     * payloadLen (read that many bytes next).
     */
    public static Frame decodeHeader(byte[] header) throws FrameException {
        if (header.length < SOCKET_HEADER_SIZE) {
            throw new FrameException(
                    ERR_PROTOCOL, "truncated header: " + header.length + " of " + SOCKET_HEADER_SIZE + " bytes");
        }
        Frame f = parseHeader(header);
        f.validateHeader();
        return f;
    }

    /**
     * The fields of the first 32 bytes as they are, not validated (for a peer that checks them one by one and
     * answers each fault with its own code, or a test that must see a malformed frame); empty payload.
     */
    public static Frame parseHeader(byte[] header) {
        ByteBuffer b = ByteBuffer.wrap(header, 0, SOCKET_HEADER_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        return new Frame(
                b.getInt(),
                b.getInt(),
                Short.toUnsignedInt(b.getShort()),
                Short.toUnsignedInt(b.getShort()),
                b.getInt(),
                Byte.toUnsignedInt(b.get()),
                Byte.toUnsignedInt(b.get()),
                Short.toUnsignedInt(b.getShort()),
                b.getInt(),
                b.getInt(),
                b.getInt(),
                null);
    }

    /** Decodes exactly one whole frame; trailing bytes beyond header + payload_len are an error. */
    public static Frame decode(byte[] bytes) throws FrameException {
        Frame header = decodeHeader(bytes);
        int expected = SOCKET_HEADER_SIZE + header.payloadLen;
        if (bytes.length != expected) {
            throw new FrameException(
                    ERR_PROTOCOL,
                    (bytes.length < expected ? "truncated frame: " : "trailing bytes: ") + bytes.length
                            + " bytes, header says " + expected);
        }
        return header.withPayload(Arrays.copyOfRange(bytes, SOCKET_HEADER_SIZE, expected));
    }

    /**
     * Decodes one frame from the buffer's position and advances past it. If the buffer does not yet hold the
     * whole frame, throws a PROTOCOL FrameException and leaves the position unchanged.
     */
    public static Frame decode(ByteBuffer in) throws FrameException {
        ByteBuffer src = in.duplicate();
        if (src.remaining() < SOCKET_HEADER_SIZE) {
            throw new FrameException(
                    ERR_PROTOCOL, "truncated header: " + src.remaining() + " of " + SOCKET_HEADER_SIZE + " bytes");
        }
        byte[] head = new byte[SOCKET_HEADER_SIZE];
        src.get(head);
        Frame header = decodeHeader(head);
        if (src.remaining() < header.payloadLen) {
            throw new FrameException(
                    ERR_PROTOCOL, "truncated payload: " + src.remaining() + " of " + header.payloadLen + " bytes");
        }
        byte[] payload = new byte[header.payloadLen];
        src.get(payload);
        in.position(src.position());
        return header.withPayload(payload);
    }

    /** Reads one frame from a blocking stream; EOFException if the stream ends (also mid-frame). */
    public static Frame readFrom(InputStream in) throws IOException, FrameException {
        byte[] head = in.readNBytes(SOCKET_HEADER_SIZE);
        if (head.length < SOCKET_HEADER_SIZE) {
            throw new EOFException("stream ended after " + head.length + " header bytes");
        }
        Frame header = decodeHeader(head);
        byte[] payload = in.readNBytes(header.payloadLen);
        if (payload.length < header.payloadLen) {
            throw new EOFException(
                    "stream ended after " + payload.length + " of " + header.payloadLen + " payload bytes");
        }
        return header.withPayload(payload);
    }

    /** Reads one frame from a blocking channel; EOFException if the channel ends (also mid-frame). */
    public static Frame readFrom(ReadableByteChannel channel) throws IOException, FrameException {
        ByteBuffer head = readFully(channel, SOCKET_HEADER_SIZE);
        Frame header = decodeHeader(head.array());
        return header.withPayload(readFully(channel, header.payloadLen).array());
    }

    private static ByteBuffer readFully(ReadableByteChannel channel, int n) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(n);
        while (buf.hasRemaining()) {
            if (channel.read(buf) < 0) {
                throw new EOFException("channel ended after " + buf.position() + " of " + n + " bytes");
            }
        }
        return buf;
    }

    /** This header with that payload; payloadLen stays as it is (it may be the header's claim, not the truth). */
    public Frame withPayload(byte[] newPayload) {
        return new Frame(
                magic,
                version,
                msgType,
                flags,
                vmId,
                poolId,
                priority,
                reserved,
                requestId,
                payloadLen,
                status,
                newPayload);
    }

    private void validateHeader() throws FrameException {
        if (magic != SOCKET_MAGIC) {
            throw new FrameException(
                    ERR_PROTOCOL, String.format("bad magic 0x%08x (expected 0x%08x 'VGPU')", magic, SOCKET_MAGIC));
        }
        if (majorOf(version) != PROTOCOL_MAJOR) {
            throw new FrameException(
                    ERR_VERSION,
                    String.format(
                            "protocol major version %d (version word 0x%08x), this side speaks %d",
                            majorOf(version), version, PROTOCOL_MAJOR));
        }
        if (msgType < MSG_HELLO || msgType > MSG_STATS_REPLY) {
            throw new FrameException(ERR_PROTOCOL, "unknown msg_type " + msgType);
        }
        if (Integer.compareUnsigned(payloadLen, MAX_PAYLOAD) > 0) {
            throw new FrameException(
                    ERR_PROTOCOL,
                    "payload_len " + Integer.toUnsignedString(payloadLen) + " exceeds the maximum " + MAX_PAYLOAD);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Frame f
                && magic == f.magic
                && version == f.version
                && msgType == f.msgType
                && flags == f.flags
                && vmId == f.vmId
                && poolId == f.poolId
                && priority == f.priority
                && reserved == f.reserved
                && requestId == f.requestId
                && payloadLen == f.payloadLen
                && status == f.status
                && Arrays.equals(payload, f.payload);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(new int[] {
            magic,
            version,
            msgType,
            flags,
            vmId,
            poolId,
            priority,
            reserved,
            requestId,
            payloadLen,
            status,
            Arrays.hashCode(payload)
        });
    }

    @Override
    public String toString() {
        String hex = HexFormat.of().formatHex(payload, 0, Math.min(payload.length, 32));
        return String.format(
                "Frame[%s magic=0x%08x version=0x%08x flags=%d vm_id=%s pool=%s priority=%d "
                        + "reserved=%d request_id=%s payload_len=%s status=%s payload=%s%s]",
                messageTypeName(msgType),
                magic,
                version,
                flags,
                Integer.toUnsignedString(vmId),
                poolId >= 0x20 && poolId < 0x7f ? "'" + (char) poolId + "'" : Integer.toString(poolId),
                priority,
                reserved,
                Integer.toUnsignedString(requestId),
                Integer.toUnsignedString(payloadLen),
                ErrorCode.nameOf(status),
                hex,
                payload.length > 32 ? "..." : "");
    }
}
