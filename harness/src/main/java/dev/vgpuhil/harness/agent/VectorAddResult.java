package dev.vgpuhil.harness.agent;

import dev.vgpuhil.harness.Json;
import java.util.Map;

/** One vector-add request as the agent reports it (STATUS and ERROR_CODE as read from the device). */
public record VectorAddResult(int elements, long requestId, int status, int errorCode, boolean correct, long micros,
                              Map<String, Object> raw) {
    public static VectorAddResult of(Map<String, Object> o) {
        return new VectorAddResult((int) Json.getLong(o, "elements"), Json.getLong(o, "requestId", -1),
                (int) Json.getLong(o, "status"), (int) Json.getLong(o, "errorCode"),
                Boolean.TRUE.equals(o.get("correct")), Json.getLong(o, "micros", -1), o);
    }

    public boolean done() {
        return status == dev.vgpuhil.protocol.VgpuProtocol.STATUS_DONE && errorCode == 0;
    }

    @Override
    public String toString() {
        return "vector-add " + elements + " elements: request_id=" + requestId + " STATUS=" + status
                + " ERROR_CODE=" + errorCode + (correct ? " correct" : " WRONG") + " " + micros + " us";
    }
}
