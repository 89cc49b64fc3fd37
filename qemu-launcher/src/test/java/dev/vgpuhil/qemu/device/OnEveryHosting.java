package dev.vgpuhil.qemu.device;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.ClassTemplate;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Runs the annotated device test class once per {@link DeviceHosting} of {@link DeviceHostings#all()}, each run
 * named {@code [qemu 10.0]} etc.; inside a run, {@link DeviceHostings#current()} (used by {@link VgpuMachine}) is
 * that hosting, and a test may also take it as a {@code DeviceHosting} parameter.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ClassTemplate
@ExtendWith(DeviceHostings.Template.class)
public @interface OnEveryHosting {}
