package dev.vgpuhil.harness.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Repeatable;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A running guest (TCG or KVM, the launcher decides) with the vgpu-stub device, for the annotated test class
 * or method: test parameters of type {@link GuestVm} (with {@link Vm} to pick one of several by name, or
 * {@code GuestVms} for all), {@link dev.vgpuhil.harness.GuestShell} and {@link dev.vgpuhil.harness.agent.Agent}.
 * Repeatable: one annotation per VM. On the class with {@code perClass = true} (the default) the VM boots once
 * for all the class's tests; on a method, or with {@code perClass = false}, once per test.
 */
@Documented
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD})
@Repeatable(VgpuVms.class)
@ExtendWith(VgpuVmExtension.class)
public @interface VgpuVm {
    /** Name of the VM in reports and for {@link Vm}. */
    String name() default "vm";

    /** POOL_ID: 'A' or 'B'. */
    char pool() default 'B';

    /** PRIORITY: low, medium or high. */
    String priority() default "high";

    /** VM_ID. */
    long vmId() default 200;

    /**
     * Link the device to the class's {@link WithMediator} socket (also when that mediator is started later).
     * false: the device points at a socket path where nothing listens (MEDIATOR_UNAVAILABLE by design).
     */
    boolean mediator() default true;

    /**
     * How many vgpu-stub devices (same properties) the guest gets; a second one lets two clients (the agent and
     * the guide's C program) each test a fresh device in the same guest.
     */
    int devices() default 1;

    /** Boot once for the whole class (only meaningful on the class). */
    boolean perClass() default true;

    /** The device's reply deadline ({@code timeout_ms}, QEMU virtual clock); 0 = the device's default (5000). */
    int deviceTimeoutMs() default 0;

    /** Raw QEMU arguments appended last (e.g. extra devices, or a deliberately broken option in tests). */
    String[] extraQemuArgs() default {};

    /** Guest RAM in MiB. */
    int memoryMib() default 512;

    /**
     * The guest: {@code ci}, {@code debian-disk} or {@code qcow2:/abs/path.qcow2[;kernel=..;initrd=..;append=..]}
     * (see {@link GuestChoice}). Empty (default): the run decides — {@code -Dvgpu.guest}, {@code VGPU_GUEST}, else ci.
     * Set it only for a test that needs one kind of guest.
     */
    String guest() default "";

    /**
     * Deadline in seconds from launch to an SSH login; 0 (default): {@code -Dvgpu.guest.bootTimeout}, {@code
     * VGPU_GUEST_BOOT_TIMEOUT}, else 120 s for ci and 300 s for disk guests.
     */
    int bootTimeoutSeconds() default 0;

    /**
     * The QEMU binary for this VM; empty (default): the run's ({@code -Dvgpu.qemu}, {@code VGPU_QEMU}, else
     * vgpu-stub/build-qemu.sh). One with {@code vgpu-stub} hosts the device inside QEMU; a stock QEMU ≥ 10.1 with
     * {@code vfio-user-pci} gets one {@code vgpu-stub-vfio-user} per device.
     */
    String qemu() default "";
}
