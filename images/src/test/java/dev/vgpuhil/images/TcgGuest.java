package dev.vgpuhil.images;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Test-only QEMU runner for the image's own boot tests (the real launcher lives in qemu-launcher): Debian's stock
 * {@code /usr/bin/qemu-system-x86_64}, TCG, qboot, serial console to a file. Every wait has a deadline and {@link
 * #close()} always ends QEMU.
 */
final class TcgGuest implements AutoCloseable {
    static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
    static final Path QBOOT = Path.of("/usr/share/qemu/qboot.rom");
    private static final Pattern HOSTFWD =
            Pattern.compile("TCP\\[HOST_FORWARD\\]\\s+\\d+\\s+127\\.0\\.0\\.1\\s+(\\d+)\\s+10\\.0\\.2\\.15\\s+22\\b");

    private final Process process;
    private final Path serial;
    private final Path monitor;
    private final long startNanos;
    /** marker -> milliseconds after launch at which the serial file first showed it (polling granularity ~10 ms) */
    private final Map<String, Long> seenAt = new LinkedHashMap<>();

    private TcgGuest(Process process, Path serial, Path monitor, long startNanos) {
        this.process = process;
        this.serial = serial;
        this.monitor = monitor;
        this.startNanos = startNanos;
    }

    /** Boots the image; {@code withNic} adds virtio-net with user networking forwarding 127.0.0.1:(free port) to 22. */
    static TcgGuest boot(GuestImage image, String append, boolean withNic, Path workDir) throws IOException {
        if (!Files.isExecutable(QEMU)) {
            throw new IllegalStateException(
                    QEMU + " is missing: apt-get install qemu-system-x86 (bin/vgpu-hil setup does)");
        }
        if (!Files.isRegularFile(QBOOT)) {
            throw new IllegalStateException(QBOOT + " is missing: apt-get install qemu-system-data");
        }
        Path serial = workDir.resolve("serial.log");
        Path monitor = workDir.resolve("mon.sock");
        Files.deleteIfExists(serial);
        Files.deleteIfExists(monitor);
        List<String> cmd = new ArrayList<>(List.of(
                QEMU.toString(),
                "-machine",
                "q35",
                "-accel",
                "tcg",
                "-m",
                "512",
                "-nographic",
                "-nodefaults",
                "-bios",
                QBOOT.toString(),
                "-kernel",
                image.kernel().toString(),
                "-initrd",
                image.initramfs().toString(),
                "-append",
                append,
                "-no-reboot",
                "-serial",
                "file:" + serial,
                "-monitor",
                "unix:" + monitor + ",server,nowait"));
        if (withNic) {
            cmd.addAll(List.of(
                    "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:0-:22", "-device", "virtio-net-pci,netdev=n0"));
        }
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectErrorStream(true)
                .redirectOutput(workDir.resolve("qemu.out").toFile())
                .start();
        return new TcgGuest(p, serial, monitor, t0);
    }

    long millisSinceLaunch() {
        return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
    }

    String console() {
        try {
            return Files.exists(serial)
                    ? Files.readString(serial, StandardCharsets.ISO_8859_1).replace("\r", "")
                    : "";
        } catch (IOException e) {
            return "";
        }
    }

    /** Waits until the console shows {@code text}; returns the ms after launch it was first seen. */
    long await(String text, Duration deadline) throws InterruptedException {
        long until = System.nanoTime() + deadline.toNanos();
        while (System.nanoTime() < until) {
            if (console().contains(text)) {
                return seenAt.computeIfAbsent(text, t -> millisSinceLaunch());
            }
            if (!process.isAlive()) {
                if (console().contains(text)) {
                    return seenAt.computeIfAbsent(text, t -> millisSinceLaunch());
                }
                throw new AssertionError("QEMU exited (rc " + process.exitValue() + ") before \"" + text
                        + "\"; console:\n" + tail(console()) + "\nqemu: " + qemuOutput());
            }
            Thread.sleep(10);
        }
        throw new AssertionError(
                "no \"" + text + "\" within " + deadline.toSeconds() + " s; console:\n" + tail(console()));
    }

    /** Waits for QEMU to exit by itself; returns its exit code. */
    int awaitExit(Duration deadline) throws InterruptedException {
        if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new AssertionError(
                    "QEMU still running after " + deadline.toSeconds() + " s; console:\n" + tail(console()));
        }
        return process.exitValue();
    }

    /** The host port forwarded to the guest's port 22, read back from HMP {@code info usernet}. */
    int sshPort(Duration deadline) throws IOException, InterruptedException {
        long until = System.nanoTime() + deadline.toNanos();
        String last = "";
        while (System.nanoTime() < until) {
            if (Files.exists(monitor)) {
                try {
                    last = hmp("info usernet");
                    Matcher m = HOSTFWD.matcher(last);
                    if (m.find()) {
                        return Integer.parseInt(m.group(1));
                    }
                } catch (IOException e) {
                    last = e.toString();
                }
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no host forward for port 22 in 'info usernet': " + last);
    }

    /** One HMP command over the monitor socket; returns what QEMU answered up to the next prompt. */
    String hmp(String command) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(monitor));
            readUntilPrompt(ch, Duration.ofSeconds(10));
            ch.write(ByteBuffer.wrap((command + "\n").getBytes(StandardCharsets.US_ASCII)));
            return readUntilPrompt(ch, Duration.ofSeconds(10));
        }
    }

    private static String readUntilPrompt(SocketChannel ch, Duration deadline) throws IOException {
        ch.configureBlocking(false);
        StringBuilder sb = new StringBuilder();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        long until = System.nanoTime() + deadline.toNanos();
        while (System.nanoTime() < until) {
            buf.clear();
            int n = ch.read(buf);
            if (n < 0) {
                break;
            }
            if (n > 0) {
                sb.append(new String(buf.array(), 0, n, StandardCharsets.ISO_8859_1));
                if (sb.toString().endsWith("(qemu) ")) {
                    return sb.toString();
                }
            } else {
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted", e);
                }
            }
        }
        throw new IOException("no HMP prompt; got: " + sb);
    }

    String qemuOutput() {
        try {
            Path out = serial.resolveSibling("qemu.out");
            return Files.exists(out) ? Files.readString(out) : "";
        } catch (IOException e) {
            return "";
        }
    }

    static String tail(String text) {
        String[] lines = text.split("\n");
        return String.join("\n", java.util.Arrays.copyOfRange(lines, Math.max(0, lines.length - 40), lines.length));
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
