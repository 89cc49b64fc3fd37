package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Test double for the agent's own logic only (check bookkeeping, polling, irq handling, result verification): an
 * in-memory BAR0 that follows DEVICE.md's register rules, with an optional "mediator" that answers ECHO and
 * VECTOR_ADD after a few STATUS/IRQ_STATUS polls. The real device is exercised in a guest by the harness; the real
 * mmap path by MappedBar0Test.
 */
final class SimulatedVgpu implements Bar0 {
    boolean mediator;
    /** Polls that see BUSY before a mediator reply lands; -1 = never replies. */
    int replyAfterPolls = 3;
    /** Flip the lowest bit of the first result word. */
    boolean corruptResult;

    int status;
    int errorCode;
    int requestLen;
    int responseLen;
    int irqCtrl;
    int irqStatus;
    int requestId;
    long timestamp;
    int scratch;
    final int pool = POOL_B;
    final int priority = PRIORITY_HIGH;
    final int vmId = 200;
    final byte[] req = new byte[REQ_BUFFER_SIZE];
    final byte[] resp = new byte[RESP_BUFFER_SIZE];
    int doorbells;
    int maxIrqCtrlSeen;
    /** STATUS / IRQ_STATUS reads while a request was in flight (an interrupt-driven client makes none). */
    int busyPolls;

    private int pendingPolls;
    private byte[] pendingReply;

    @Override
    public int read32(int off) {
        check(off);
        if (off >= REQ_BUFFER_OFFSET) {
            if (off < RESP_BUFFER_OFFSET) {
                return word(req, off - REQ_BUFFER_OFFSET);
            }
            if (off < RESERVED_OFFSET) {
                return word(resp, off - RESP_BUFFER_OFFSET);
            }
            return 0;
        }
        if ((off == REG_STATUS || off == REG_IRQ_STATUS) && status == STATUS_BUSY) {
            busyPolls++;
            tick();
        }
        switch (off) {
            case REG_DOORBELL:
                return 0;
            case REG_STATUS:
                return status;
            case REG_POOL_ID:
                return pool;
            case REG_PRIORITY:
                return priority;
            case REG_VM_ID:
                return vmId;
            case REG_ERROR_CODE:
                return errorCode;
            case REG_REQUEST_LEN:
                return requestLen;
            case REG_RESPONSE_LEN:
                return responseLen;
            case REG_PROTOCOL_VER:
                return PROTOCOL_VERSION;
            case REG_CAPABILITIES:
                return CAP_BASIC | CAP_IRQ | CAP_MSI | CAP_TIMESTAMP;
            case REG_IRQ_CTRL:
                return irqCtrl;
            case REG_IRQ_STATUS:
                return irqStatus;
            case REG_REQUEST_ID:
                return requestId;
            case REG_TIMESTAMP_LO:
                return (int) timestamp;
            case REG_TIMESTAMP_HI:
                return (int) (timestamp >>> 32);
            case REG_SCRATCH:
                return scratch;
            default:
                throw new AssertionError(off);
        }
    }

    @Override
    public void write32(int off, int v) {
        check(off);
        if (off >= REQ_BUFFER_OFFSET) {
            if (off < RESP_BUFFER_OFFSET) {
                ByteBuffer.wrap(req).order(ByteOrder.LITTLE_ENDIAN).putInt(off - REQ_BUFFER_OFFSET, v);
            }
            return;
        }
        switch (off) {
            case REG_DOORBELL:
                if (v == DOORBELL_RING) {
                    doorbell();
                }
                break;
            case REG_REQUEST_LEN:
                requestLen = v;
                break;
            case REG_IRQ_CTRL:
                irqCtrl = v & IRQ_CTRL_ENABLE;
                maxIrqCtrlSeen = Math.max(maxIrqCtrlSeen, irqCtrl);
                break;
            case REG_IRQ_STATUS:
                irqStatus &= ~v;
                break;
            case REG_REQUEST_ID:
                requestId = v;
                break;
            case REG_SCRATCH:
                scratch = v;
                break;
            default:
                break; // read-only: ignored
        }
    }

    /** One unit of time passes (a poll, or a simulated interrupt wait): a pending mediator reply comes closer. */
    void tick() {
        if (status == STATUS_BUSY && pendingPolls > 0 && --pendingPolls == 0) {
            deliver();
        }
    }

    /** The INTx level DEVICE.md defines (MSI is never enabled here): IRQ_CTRL enabled and IRQ_STATUS non-zero. */
    boolean intxLevel() {
        return (irqCtrl & IRQ_CTRL_ENABLE) != 0 && irqStatus != 0;
    }

    private void doorbell() {
        doorbells++;
        if (status == STATUS_BUSY) {
            errorCode = ERR_BUSY;
            return;
        }
        if (requestLen == 0 || Integer.compareUnsigned(requestLen, REQ_BUFFER_SIZE) > 0) {
            complete(ERR_INVALID_LENGTH);
            return;
        }
        if (!mediator) {
            complete(ERR_MEDIATOR_UNAVAILABLE);
            return;
        }
        status = STATUS_BUSY;
        errorCode = ERR_NONE;
        responseLen = 0;
        pendingReply = compute();
        pendingPolls = replyAfterPolls < 0 ? Integer.MAX_VALUE : Math.max(1, replyAfterPolls);
    }

    private byte[] compute() {
        ByteBuffer in = ByteBuffer.wrap(req, 0, requestLen).order(ByteOrder.LITTLE_ENDIAN);
        int op = in.getInt(0);
        int n = in.getInt(4);
        ByteBuffer out;
        if (op == OP_ECHO) {
            out = ByteBuffer.allocate(n);
            out.put(req, 8, n);
        } else if (op == OP_VECTOR_ADD) {
            out = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                out.putFloat(in.getFloat(8 + 4 * i) + in.getFloat(8 + 4 * (n + i)));
            }
            if (corruptResult && n > 0) {
                out.put(0, (byte) (out.get(0) ^ 1));
            }
        } else {
            return null;
        }
        return out.array();
    }

    private void deliver() {
        if (pendingReply == null) {
            complete(ERR_BAD_OPCODE);
            return;
        }
        System.arraycopy(pendingReply, 0, resp, 0, pendingReply.length);
        java.util.Arrays.fill(resp, pendingReply.length, resp.length, (byte) 0);
        complete(ERR_NONE);
        responseLen = pendingReply.length;
    }

    private void complete(int err) {
        status = err == ERR_NONE ? STATUS_DONE : STATUS_ERROR;
        errorCode = err;
        responseLen = 0;
        timestamp = System.nanoTime() | 1L << 40;
        irqStatus |= IRQ_STATUS_COMPLETE | (err == ERR_NONE ? 0 : IRQ_STATUS_ERROR);
    }

    private static int word(byte[] b, int off) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getInt(off);
    }

    private static void check(int off) {
        if ((off & 3) != 0 || off < 0 || off >= BAR0_SIZE) {
            throw new AssertionError("bad offset " + off);
        }
    }

    @Override
    public void close() {}
}
