package dev.vgpuhil.conformance;

import dev.vgpuhil.protocol.VgpuProtocol.ErrorCode;
import org.assertj.core.presentation.Representation;
import org.assertj.core.presentation.StandardRepresentation;

/** How a rule's failure message spells protocol numbers: status codes by name, version words in hex. */
public final class Codes {
    private Codes() {}

    /** An int is a VGPU_ERR_* status: "BAD_OPCODE (0x9)". */
    public static final Representation STATUS = new StandardRepresentation() {
        @Override
        public String toStringOf(Object o) {
            return o instanceof Integer i
                    ? ErrorCode.nameOf(i) + " (0x" + Integer.toHexString(i) + ")"
                    : super.toStringOf(o);
        }
    };

    /** An int is a version word: "0x00010005 (1.5)". */
    public static final Representation VERSION = new StandardRepresentation() {
        @Override
        public String toStringOf(Object o) {
            return o instanceof Integer i
                    ? String.format("0x%08x (%d.%d)", i, i >>> 16, i & 0xFFFF)
                    : super.toStringOf(o);
        }
    };
}
