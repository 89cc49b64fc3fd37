package dev.vgpuhil.agent;

import static dev.vgpuhil.protocol.VgpuProtocol.DOORBELL_RING;
import static dev.vgpuhil.protocol.VgpuProtocol.IRQ_CTRL_ENABLE;
import static dev.vgpuhil.protocol.VgpuProtocol.IRQ_STATUS_COMPLETE;
import static dev.vgpuhil.protocol.VgpuProtocol.REG_DOORBELL;
import static dev.vgpuhil.protocol.VgpuProtocol.REG_ERROR_CODE;
import static dev.vgpuhil.protocol.VgpuProtocol.REG_IRQ_CTRL;
import static dev.vgpuhil.protocol.VgpuProtocol.REG_IRQ_STATUS;
import static dev.vgpuhil.protocol.VgpuProtocol.REG_REQUEST_ID;
import static dev.vgpuhil.protocol.VgpuProtocol.REG_REQUEST_LEN;
import static dev.vgpuhil.protocol.VgpuProtocol.REG_RESPONSE_LEN;
import static dev.vgpuhil.protocol.VgpuProtocol.REG_STATUS;
import static dev.vgpuhil.protocol.VgpuProtocol.REQ_BUFFER_OFFSET;
import static dev.vgpuhil.protocol.VgpuProtocol.REQ_BUFFER_SIZE;
import static dev.vgpuhil.protocol.VgpuProtocol.RESP_BUFFER_OFFSET;
import static dev.vgpuhil.protocol.VgpuProtocol.RESP_BUFFER_SIZE;
import static dev.vgpuhil.protocol.VgpuProtocol.STATUS_BUSY;

/** The guide's client flow on a {@link Bar0}: request words in, REQUEST_LEN, REQUEST_ID, DOORBELL, wait, response. */
public final class Vgpu {
    private final Bar0 bar;

    public Vgpu(Bar0 bar) {
        this.bar = bar;
    }

    public Bar0 bar() {
        return bar;
    }

    public int reg(int offset) {
        return bar.read32(offset);
    }

    public void setReg(int offset, int value) {
        bar.write32(offset, value);
    }

    /** Stores words at the start of the request buffer, one 32-bit store each. */
    public void writeRequest(int[] words) {
        if (words.length * 4 > REQ_BUFFER_SIZE) {
            throw new IllegalArgumentException(words.length * 4 + " bytes exceed the request buffer");
        }
        for (int i = 0; i < words.length; i++) {
            bar.write32(REQ_BUFFER_OFFSET + 4 * i, words[i]);
        }
    }

    /** The first ceil(len/4) words of the response buffer. */
    public int[] readResponseWords(int len) {
        int n = (Math.min(len, RESP_BUFFER_SIZE) + 3) / 4;
        int[] w = new int[n];
        for (int i = 0; i < n; i++) {
            w[i] = bar.read32(RESP_BUFFER_OFFSET + 4 * i);
        }
        return w;
    }

    /** REQUEST_LEN, REQUEST_ID, then DOORBELL = 1. */
    public void submit(int requestLen, int requestId) {
        bar.write32(REG_REQUEST_LEN, requestLen);
        bar.write32(REG_REQUEST_ID, requestId);
        bar.write32(REG_DOORBELL, DOORBELL_RING);
    }

    /** Polls STATUS while busy, until the deadline ({@link System#nanoTime()}); returns the last STATUS read. */
    public int waitNotBusy(long deadlineNanos) {
        int st = bar.read32(REG_STATUS);
        while (st == STATUS_BUSY && System.nanoTime() - deadlineNanos < 0) {
            Thread.onSpinWait();
            st = bar.read32(REG_STATUS);
        }
        return st;
    }

    /** Polls IRQ_STATUS until COMPLETE is latched or the deadline passes; returns the last IRQ_STATUS read. */
    public int waitIrqComplete(long deadlineNanos) {
        int irq = bar.read32(REG_IRQ_STATUS);
        while ((irq & IRQ_STATUS_COMPLETE) == 0 && System.nanoTime() - deadlineNanos < 0) {
            Thread.onSpinWait();
            irq = bar.read32(REG_IRQ_STATUS);
        }
        return irq;
    }

    /** Result of one request. */
    public static final class Completion {
        public int status;
        public int errorCode;
        public int responseLen;
        /** IRQ_STATUS seen at completion (irq mode), else -1. */
        public int irqStatus = -1;
        /** IRQ_STATUS after the W1C clear (irq mode), else -1. */
        public int irqAfterClear = -1;

        public boolean timedOut;
        /** Doorbell store to completion seen, microseconds. */
        public long micros;
        /** Interrupt mode: the interrupt count (since the driver was bound) after the last wake-up, else -1. */
        public long irqCount = -1;
        /** Interrupt mode: interrupts this request woke up for (1 normally; more after spurious ones). */
        public int irqWakeups;
    }

    /** The previous request never finished before the deadline: nothing was submitted. */
    private Completion stillBusy() {
        Completion c = new Completion();
        c.status = STATUS_BUSY;
        c.errorCode = reg(REG_ERROR_CODE);
        c.timedOut = true;
        return c;
    }

    /**
     * One request: waits for a previous one to finish (the device refuses a doorbell while busy), stores the
     * words, submits and waits for DONE or ERROR.
     *
     * <p>irq mode ({@code --irq=poll}): no interrupt is taken; IRQ_CTRL enable is set, the completion is detected by
     * polling the latched IRQ_STATUS.COMPLETE bit (the interrupt's cause register), which is then cleared
     * write-1-to-clear (which also lowers INTx), and IRQ_CTRL is turned off again. The interrupt-driven flow is
     * {@link #runWithInterrupt}.
     */
    public Completion run(int[] words, int requestLen, int requestId, long timeoutNanos, boolean irq) {
        long deadline = System.nanoTime() + timeoutNanos;
        if (waitNotBusy(deadline) == STATUS_BUSY) {
            return stillBusy();
        }
        Completion c = new Completion();
        writeRequest(words);
        if (irq) {
            bar.write32(REG_IRQ_STATUS, -1);
            bar.write32(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
        }
        try {
            long t0 = System.nanoTime();
            submit(requestLen, requestId);
            if (irq) {
                c.irqStatus = waitIrqComplete(deadline);
                c.micros = (System.nanoTime() - t0) / 1000;
                c.timedOut = (c.irqStatus & IRQ_STATUS_COMPLETE) == 0;
                c.status = reg(REG_STATUS);
                bar.write32(REG_IRQ_STATUS, c.irqStatus);
                c.irqAfterClear = reg(REG_IRQ_STATUS);
            } else {
                c.status = waitNotBusy(deadline);
                c.micros = (System.nanoTime() - t0) / 1000;
                c.timedOut = c.status == STATUS_BUSY;
            }
        } finally {
            if (irq) {
                bar.write32(REG_IRQ_CTRL, 0);
            }
        }
        c.errorCode = reg(REG_ERROR_CODE);
        c.responseLen = reg(REG_RESPONSE_LEN);
        return c;
    }

    /**
     * One request, completion taken from the interrupt: IRQ_STATUS cleared (W1C), IRQ_CTRL enabled, the interrupt
     * unmasked, the doorbell rung, then the thread sleeps in {@link Interrupts#await} until the interrupt arrives or
     * the deadline passes. On a wake-up, IRQ_STATUS must show COMPLETE (the cause); otherwise the interrupt was not
     * this completion's (a shared line) and the wait goes on, unmasked again. Then STATUS is read, IRQ_STATUS cleared
     * W1C (which lowers INTx) and IRQ_CTRL turned off. The line stays masked (as the driver's handler left it)
     * until the next request unmasks it. No STATUS or IRQ_STATUS polling between doorbell and interrupt.
     *
     * <p>A request whose interrupt does not arrive in time is {@code timedOut}, even if the device completed
     * (IRQ_STATUS then shows it, which says the interrupt got lost).
     */
    public Completion runWithInterrupt(int[] words, int requestLen, int requestId, long timeoutNanos, Interrupts irq)
            throws AgentException {
        long deadline = System.nanoTime() + timeoutNanos;
        if (waitNotBusy(deadline) == STATUS_BUSY) {
            return stillBusy();
        }
        Completion c = new Completion();
        writeRequest(words);
        bar.write32(REG_IRQ_STATUS, -1);
        bar.write32(REG_IRQ_CTRL, IRQ_CTRL_ENABLE);
        try {
            irq.unmask();
            long t0 = System.nanoTime();
            submit(requestLen, requestId);
            int cause = 0;
            while (true) {
                long n = irq.await(deadline);
                if (n < 0) {
                    c.timedOut = true;
                    break;
                }
                c.irqCount = n;
                c.irqWakeups++;
                cause = reg(REG_IRQ_STATUS);
                if ((cause & IRQ_STATUS_COMPLETE) != 0) {
                    break;
                }
                irq.unmask();
            }
            c.micros = (System.nanoTime() - t0) / 1000;
            c.irqStatus = c.timedOut ? reg(REG_IRQ_STATUS) : cause;
            c.status = reg(REG_STATUS);
            if (c.irqStatus != 0) {
                bar.write32(REG_IRQ_STATUS, c.irqStatus);
            }
            c.irqAfterClear = reg(REG_IRQ_STATUS);
        } finally {
            bar.write32(REG_IRQ_CTRL, 0);
        }
        c.errorCode = reg(REG_ERROR_CODE);
        c.responseLen = reg(REG_RESPONSE_LEN);
        return c;
    }
}
