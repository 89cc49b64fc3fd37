package dev.vgpuhil.qemu.device;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * A device test (class or method) whose behaviour exists only with the device inside QEMU: on the vfio-user
 * hosting it is reported as disabled with {@link #value()}, which names the behaviour that differs by nature
 * and the test that shows what vfio-user does instead (e.g. {@code VfioUserQemuTest}). Evaluated by the
 * {@link OnEveryHosting} template's per-hosting extension.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
public @interface InQemuOnly {
    /** Why, and which test shows the vfio-user behaviour. */
    String value();
}
