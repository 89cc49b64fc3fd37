package dev.vgpuhil.qemu.qtest;

import dev.vgpuhil.qemu.VfioUserServer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The vgpu-stub of a qtest session hosted by {@code vgpu-stub-vfio-user}: given the same {@code key=value} properties
 * as {@code -device vgpu-stub} ({@code pool_id}, {@code priority}, {@code vm_id}, {@code socket} = the mediator,
 * {@code timeout_ms}; {@code id} and {@code addr} go to QEMU's {@code vfio-user-pci}), it starts the server in the
 * session's run directory ({@code vgpu.sock}, log {@code vfio-user.log}; a second device of the same session
 * {@code vgpu-1.sock}, {@code vfio-user-1.log}, ...) and gives QEMU
 * {@code -device vfio-user-pci} for it. A value the server refuses (e.g. {@code pool_id=C}) fails the session's
 * start with the server's message; {@code chardev} exists only in-QEMU and is refused here.
 */
public final class VfioUserCompanion implements QtestSession.Companion {
    public static final String SOCKET_FILE = "vgpu.sock";
    public static final String LOG_FILE = "vfio-user.log";

    private final Path binary;
    private final List<String> props;
    private final Path defaultMediator;
    private volatile VfioUserServer server;

    /**
     * @param binary          the server ({@link VfioUserServer#locateBinary()})
     * @param props           vgpu-stub properties, {@code key=value}
     * @param defaultMediator the mediator socket when {@code props} has no {@code socket=}
     */
    public VfioUserCompanion(Path binary, List<String> props, Path defaultMediator) {
        this.binary = binary;
        this.props = List.copyOf(props);
        this.defaultMediator = defaultMediator;
    }

    @Override
    public List<String> start(Path runDir) throws IOException {
        char pool = 'A';
        String priority = "low";
        long vmId = 0;
        Integer timeoutMs = null;
        Path mediator = defaultMediator;
        String id = null;
        String addr = null;
        List<String> raw = new ArrayList<>(); // values passed to the server unchecked: it says what is wrong
        for (String p : props) {
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("vgpu-stub property '" + p + "' is not key=value");
            }
            String key = p.substring(0, eq);
            String value = p.substring(eq + 1).replace(",,", ",");
            switch (key) {
                case "pool_id" -> {
                    if (value.length() == 1) {
                        pool = Character.toUpperCase(value.charAt(0));
                    } else {
                        raw.addAll(List.of("--pool", value));
                    }
                }
                case "priority" -> priority = value.toLowerCase(Locale.ROOT);
                case "vm_id" -> {
                    try {
                        vmId = Long.parseLong(value);
                    } catch (NumberFormatException e) {
                        raw.addAll(List.of("--vm-id", value));
                    }
                }
                case "timeout_ms" -> {
                    try {
                        timeoutMs = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        raw.addAll(List.of("--timeout-ms", value));
                    }
                }
                case "socket" -> mediator = Path.of(value);
                case "id" -> id = value;
                case "addr" -> addr = value;
                case "chardev" ->
                    throw new IllegalArgumentException("vgpu-stub property chardev= exists only in-QEMU;"
                            + " the vfio-user server connects to the mediator's socket itself (socket=PATH)");
                default -> throw new IllegalArgumentException("unknown vgpu-stub property '" + key + "'");
            }
        }
        if (mediator == null) {
            throw new IllegalArgumentException("no mediator socket: give socket=PATH");
        }
        int n = 0;
        while (java.nio.file.Files.exists(runDir.resolve(numbered(SOCKET_FILE, n)))
                || java.nio.file.Files.exists(runDir.resolve(numbered(LOG_FILE, n)))) {
            n++;
        }
        VfioUserServer.Config cfg = new VfioUserServer.Config(
                binary,
                runDir.resolve(numbered(SOCKET_FILE, n)),
                mediator,
                pool,
                priority,
                vmId,
                timeoutMs,
                runDir.resolve(numbered(LOG_FILE, n)));
        server = VfioUserServer.start(raw.isEmpty() ? cfg : cfg.withExtraArgs(raw));
        return List.of("-device", server.qemuDeviceArg(id, addr));
    }

    /** "vgpu.sock", "vgpu-1.sock", ... */
    private static String numbered(String file, int n) {
        if (n == 0) {
            return file;
        }
        int dot = file.lastIndexOf('.');
        return file.substring(0, dot) + "-" + n + file.substring(dot);
    }

    /** The running server (after the session started). */
    public VfioUserServer server() {
        VfioUserServer s = server;
        if (s == null) {
            throw new IllegalStateException("the vfio-user server is not started");
        }
        return s;
    }

    @Override
    public void close() {
        VfioUserServer s = server;
        if (s != null) {
            s.close();
        }
    }
}
