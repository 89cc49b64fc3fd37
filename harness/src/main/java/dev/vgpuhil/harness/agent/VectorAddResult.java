package dev.vgpuhil.harness.agent;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * One vector-add request as the agent reports it (STATUS and ERROR_CODE as read from the device). {@code completion}
 * says how the agent learned of the completion: {@code "status-poll"}, {@code "irq-status-poll"} ({@code --irq=poll})
 * or {@code "interrupt"} ({@code --irq}: the guest kernel took the device's INTx through uio_pci_generic and woke the
 * agent). In interrupt mode {@code irqCount} is the uio interrupt count after this request (since the device was
 * bound, so it grows from request to request), {@code linuxIrq} the guest's IRQ number of the line and {@code uio}
 * the uio device; otherwise -1 / -1 / null.
 */
public record VectorAddResult(
        int elements,
        long requestId,
        int status,
        int errorCode,
        boolean correct,
        long micros,
        boolean timedOut,
        String completion,
        long irqCount,
        int linuxIrq,
        String uio,
        JsonNode raw) {
    public static VectorAddResult of(JsonNode o) {
        return new VectorAddResult(
                o.required("elements").asInt(),
                o.path("requestId").asLong(-1),
                o.required("status").asInt(),
                o.required("errorCode").asInt(),
                o.path("correct").booleanValue(),
                o.path("micros").asLong(-1),
                o.path("timedOut").booleanValue(),
                o.path("completion").textValue(),
                o.path("irqCount").asLong(-1),
                o.path("linuxIrq").asInt(-1),
                o.path("uio").textValue(),
                o);
    }

    public boolean done() {
        return status == dev.vgpuhil.protocol.VgpuProtocol.STATUS_DONE && errorCode == 0;
    }

    /** The completion came as a real interrupt in the guest: completion "interrupt", a count above 0, in time. */
    public boolean interruptDriven() {
        return "interrupt".equals(completion) && irqCount > 0 && !timedOut;
    }

    @Override
    public String toString() {
        return "vector-add " + elements + " elements: request_id=" + requestId + " STATUS=" + status
                + " ERROR_CODE=" + errorCode + (correct ? " correct" : " WRONG") + " " + micros + " us"
                + (timedOut ? " TIMED OUT" : "") + (completion == null ? "" : " completion=" + completion)
                + (irqCount >= 0 ? " irqCount=" + irqCount + " (" + uio + ", IRQ " + linuxIrq + ")" : "");
    }
}
