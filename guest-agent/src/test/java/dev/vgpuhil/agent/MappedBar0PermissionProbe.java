package dev.vgpuhil.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.protocol.VgpuProtocol;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Child-process side of {@code MappedBar0Test.noPermission} when the tests run as root: {@link #main} opens the
 * file given and prints {@code OK} or {@code AgentException: <message>}; {@link #runAsNobody} starts it as uid/gid
 * 65534 through {@code setpriv}. Root's home (and so ~/.m2) is usually 0700, so the classpath the child needs
 * (test and main classes, vgpu-protocol, JNA) is copied world-readable under the test's temp directory first.
 */
final class MappedBar0PermissionProbe {
    private MappedBar0PermissionProbe() {}

    public static void main(String[] args) {
        try (MappedBar0 bar = MappedBar0.open(Path.of(args[0]), Integer.parseInt(args[1]))) {
            System.out.println("OK");
        } catch (AgentException e) {
            System.out.println("AgentException: " + e.getMessage());
        }
    }

    /** Runs {@link #main} as nobody on {@code file}; returns its stdout (one line). {@code tmp} becomes 0755. */
    static String runAsNobody(Path tmp, Path file, int size) throws Exception {
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path cp = Files.createDirectory(tmp.resolve("cp"));
        List<String> entries = new ArrayList<>();
        int n = 0;
        for (Class<?> c : new Class<?>[] {
            MappedBar0PermissionProbe.class, MappedBar0.class, VgpuProtocol.class, com.sun.jna.Native.class
        }) {
            Path src = Path.of(
                    c.getProtectionDomain().getCodeSource().getLocation().toURI());
            Path dst = cp.resolve((n++) + "-" + src.getFileName());
            copyWorldReadable(src, dst);
            if (!entries.contains(dst.toString())) {
                entries.add(dst.toString());
            }
        }
        Path jnaTmp = Files.createDirectory(tmp.resolve("jna"));
        Files.setPosixFilePermissions(jnaTmp, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        List<String> cmd = List.of(
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                java.toString(),
                "-Djna.tmpdir=" + jnaTmp,
                "-Duser.home=" + jnaTmp,
                "-Xshare:auto",
                "-cp",
                String.join(":", entries),
                MappedBar0PermissionProbe.class.getName(),
                file.toString(),
                Integer.toString(size));
        Process p;
        try {
            p = new ProcessBuilder(cmd)
                    .directory(tmp.toFile())
                    .redirectErrorStream(true)
                    .start();
        } catch (IOException e) {
            throw new AssertionError("cannot start " + cmd + " (setpriv is util-linux): " + e, e);
        }
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("child %s ends", cmd).isTrue();
        assertThat(p.exitValue()).as("exit status of %s, output:%n%s", cmd, out).isZero();
        return out;
    }

    private static void copyWorldReadable(Path src, Path dst) throws IOException {
        if (!Files.isDirectory(src)) {
            Files.copy(src, dst, StandardCopyOption.COPY_ATTRIBUTES);
            Files.setPosixFilePermissions(dst, PosixFilePermissions.fromString("rw-r--r--"));
            return;
        }
        try (Stream<Path> walk = Files.walk(src)) {
            walk.forEach(s -> {
                Path d = dst.resolve(src.relativize(s).toString());
                try {
                    if (Files.isDirectory(s)) {
                        Files.createDirectories(d);
                        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rwxr-xr-x"));
                    } else {
                        Files.copy(s, d);
                        Files.setPosixFilePermissions(d, PosixFilePermissions.fromString("rw-r--r--"));
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
    }
}
