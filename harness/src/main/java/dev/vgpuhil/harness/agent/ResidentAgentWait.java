package dev.vgpuhil.harness.agent;

import dev.vgpuhil.agent.AgentServer;
import dev.vgpuhil.images.GuestImage;
import dev.vgpuhil.qemu.machine.Deadline;
import dev.vgpuhil.qemu.machine.QemuMachine;
import dev.vgpuhil.qemu.machine.QemuMachineException;
import dev.vgpuhil.qemu.machine.SerialMatch;
import dev.vgpuhil.qemu.machine.WaitStrategy;
import java.time.Duration;
import java.util.regex.Pattern;

/**
 * Ready when the CI guest's resident agent ({@link AgentServer}, started by the init) says it serves; fails at once,
 * with its exit code, when the init reports that it ended first. The port comes from its line ({@link #port}).
 */
public final class ResidentAgentWait implements WaitStrategy {
    static final Pattern SERVING_OR_EXITED = Pattern.compile(Pattern.quote(AgentServer.SERVING) + "(\\d+)|"
            + Pattern.quote(GuestImage.MARKER_AGENT_EXITED) + "(-?\\d+)");

    @Override
    public void waitUntilReady(QemuMachine machine, Deadline deadline) {
        SerialMatch m = machine.waits(deadline.remaining()).forSerialLine(SERVING_OR_EXITED);
        if (m.group(1) == null) {
            throw new QemuMachineException("the resident guest agent exited (rc=" + m.group(2)
                    + ") before it served; its output is in the serial log above the line");
        }
    }

    /** The guest port the resident agent of a machine this wait passed on listens on. */
    public static int port(QemuMachine machine) {
        SerialMatch m = machine.waits(Duration.ofSeconds(1)).forSerialLine(SERVING_OR_EXITED);
        if (m.group(1) == null) {
            throw new IllegalStateException("the resident guest agent exited (rc=" + m.group(2) + ")");
        }
        return Integer.parseInt(m.group(1));
    }

    @Override
    public String description() {
        return "the resident agent's '" + AgentServer.SERVING + "<port>'";
    }

    @Override
    public String toString() {
        return "ResidentAgentWait" + description();
    }
}
