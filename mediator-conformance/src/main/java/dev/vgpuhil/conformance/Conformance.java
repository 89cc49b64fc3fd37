package dev.vgpuhil.conformance;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A class of rules: the mediator of {@code vgpu.conformance.mediator} is started for it with these knobs (the
 * contract's environment variables, docs/MEDIATOR-CONTRACT.md) and handed to its rules as a {@link
 * MediatorUnderTest} parameter.
 */
@Documented
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@ExtendWith(ConformanceExtension.class)
public @interface Conformance {
    /** VGPU_MEDIATOR_QUEUE_CAP. */
    int queueCap() default dev.vgpuhil.mediator.contract.MediatorLaunch.DEFAULT_QUEUE_CAP;

    /** VGPU_MEDIATOR_AGING_MS; the default (10 min) is longer than any rule, so priorities alone decide. */
    long agingMs() default 600_000;

    /** VGPU_MEDIATOR_MAX_CONNECTIONS. */
    int maxConnections() default dev.vgpuhil.mediator.contract.MediatorLaunch.DEFAULT_MAX_CONNECTIONS;

    /** A fresh mediator for every rule (lifecycle and ordering rules), instead of one for the class. */
    boolean perRule() default false;
}
