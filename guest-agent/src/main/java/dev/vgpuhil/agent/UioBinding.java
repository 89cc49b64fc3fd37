package dev.vgpuhil.agent;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Binds a vgpu-stub to Linux's generic UIO PCI driver, {@code uio_pci_generic}, so that user space gets its INTx
 * interrupt through {@code /dev/uioN}. The driver has no ID table of its own; the device is bound with
 * {@code driver_override} + {@code bind} (only this device, not every 1234:5647). BAR0 stays mappable through sysfs
 * {@code resource0} while bound (the driver requests no regions).
 *
 * <p>uio_pci_generic needs INTx with PCI 2.3 masking: it refuses a device whose INTx-disable bit in PCI COMMAND does
 * not stick, and its handler claims an interrupt only when the device shows the interrupt status bit in PCI STATUS
 * (vgpu-stub does both; {@code InterruptTest} checks it). A device without an IRQ would bind but never interrupt, so
 * that is an error here.
 *
 * <p>Paths are parameters: {@code devicesDir} is {@code /sys/bus/pci/devices}, {@code driversDir}
 * {@code /sys/bus/pci/drivers}, {@code devDir} {@code /dev} in the guest; temp dirs in the tests.
 */
public final class UioBinding {
    public static final String DRIVER = "uio_pci_generic";

    /** Loads the driver's kernel module when it is missing (modprobe in the guest; nothing in the tests). */
    public interface ModuleLoader {
        /** Tries to load the module; returns null on success, else what went wrong. */
        String load(String module);
    }

    /** The uio device's name ({@code uio0}). */
    public final String name;
    /** Its device node ({@code /dev/uio0}). */
    public final Path node;
    /** The Linux IRQ number of the device's INTx line. */
    public final int irq;
    /** Whether this call bound the device (false: it was bound already). */
    public final boolean boundNow;

    private UioBinding(String name, Path node, int irq, boolean boundNow) {
        this.name = name;
        this.node = node;
        this.irq = irq;
        this.boundNow = boundNow;
    }

    /**
     * Makes sure {@code dev} is bound to uio_pci_generic and returns its uio device. Every failure is an
     * {@link AgentException} saying what to do; there is no fallback to polling here.
     */
    public static UioBinding bind(PciDevice dev, Path driversDir, Path devDir, ModuleLoader loader, long deadlineNanos)
            throws AgentException {
        String current = dev.driverName();
        boolean boundNow = false;
        if (current != null && !current.equals(DRIVER)) {
            throw new AgentException(
                    dev.bdf + " is bound to the kernel driver " + current + "; --irq needs it bound to "
                            + DRIVER + ". Unbind it first (echo " + dev.bdf + " > /sys/bus/pci/drivers/" + current
                            + "/unbind), or use --irq=poll");
        }
        if (current == null) {
            Path driver = driversDir.resolve(DRIVER);
            if (!Files.isDirectory(driver)) {
                String why = loader == null ? "not tried" : loader.load(DRIVER);
                if (!Files.isDirectory(driver)) {
                    throw new AgentException("--irq needs Linux's " + DRIVER + " driver, which is not loaded (no "
                            + driver + "; modprobe " + DRIVER + ": " + (why == null ? "no error, still missing" : why)
                            + "). The CI image loads it at boot unless booted with vgpuhil.uio=0. Or use --irq=poll");
                }
            }
            write(dev.dir.resolve("driver_override"), DRIVER, "cannot set the driver override of " + dev.bdf);
            try {
                Files.write(driver.resolve("bind"), dev.bdf.getBytes(StandardCharsets.US_ASCII));
            } catch (IOException e) {
                String current2 = dev.driverName();
                if (!DRIVER.equals(current2)) { // a concurrent binder may have won; anything else is a refusal
                    throw new AgentException(DRIVER + " refused " + dev.bdf + " (" + message(e) + "): it binds only a "
                            + "device with PCI 2.3 INTx masking (INTx-disable bit in COMMAND, interrupt bit in STATUS); "
                            + "the guest's kernel log says why (dmesg | grep " + DRIVER + ")");
                }
            }
            boundNow = true;
        }
        // probe runs inside the bind write and devtmpfs makes the node at once; wait a little anyway
        String name = null;
        Path node = null;
        while (true) {
            name = uioName(dev.dir.resolve("uio"));
            node = name == null ? null : devDir.resolve(name);
            if (node != null && Files.exists(node)) {
                break;
            }
            if (System.nanoTime() - deadlineNanos > 0) {
                throw new AgentException(dev.bdf + " is bound to " + DRIVER + " but "
                        + (name == null
                                ? "has no uio device (" + dev.dir.resolve("uio") + " is empty or missing)"
                                : node + " does not exist (is devtmpfs mounted on " + devDir + "?)"));
            }
            sleepMillis(5);
        }
        int irq = dev.irq();
        if (irq <= 0) {
            throw new AgentException(dev.bdf + " has no IRQ (" + dev.dir.resolve("irq") + " says " + irq + "): "
                    + DRIVER + " can deliver no interrupt for it (interrupt pin 0, or no INTx routing)");
        }
        return new UioBinding(name, node, irq, boundNow);
    }

    /** The single {@code uioN} entry under {@code <device>/uio}, or null. */
    static String uioName(Path uioDir) throws AgentException {
        if (!Files.isDirectory(uioDir)) {
            return null;
        }
        String found = null;
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(uioDir, "uio*")) {
            for (Path p : entries) {
                String n = p.getFileName().toString();
                if (found != null) {
                    throw new AgentException("more than one uio device under " + uioDir + ": " + found + ", " + n);
                }
                found = n;
            }
        } catch (IOException e) {
            throw new AgentException("cannot list " + uioDir + ": " + message(e));
        }
        return found;
    }

    private static void write(Path file, String text, String what) throws AgentException {
        try {
            Files.write(file, text.getBytes(StandardCharsets.US_ASCII));
        } catch (NoSuchFileException e) {
            throw new AgentException(what + ": " + file + " does not exist");
        } catch (IOException e) {
            throw new AgentException(what + " via " + file + ": " + message(e));
        }
    }

    private static String message(IOException e) {
        String m = e.getMessage();
        return m == null ? e.toString() : m;
    }

    private static void sleepMillis(long ms) throws AgentException {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AgentException("interrupted");
        }
    }

    /** {@code modprobe <module>} with a 20 s deadline (for guests that do not load it at boot). */
    public static final class Modprobe implements ModuleLoader {
        @Override
        public String load(String module) {
            try {
                Process p = new ProcessBuilder("modprobe", module)
                        .redirectErrorStream(true)
                        .start();
                p.getOutputStream().close();
                if (!p.waitFor(20, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    return "modprobe " + module + " did not finish within 20 s";
                }
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
                return p.exitValue() == 0 ? null : "exit " + p.exitValue() + (out.isEmpty() ? "" : ": " + out);
            } catch (IOException e) {
                return message(e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return "interrupted";
            }
        }
    }
}
