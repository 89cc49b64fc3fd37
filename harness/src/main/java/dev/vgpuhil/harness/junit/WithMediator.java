package dev.vgpuhil.harness.junit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A mediator-lite, or the user's own mediator program ({@link #command}), for the test class (one per class, shared
 * by its tests and its {@link VgpuVm}s, closed after the VMs): a test parameter of type {@link MediatorHandle}. Its socket path is private to this run; VMs with
 * {@code mediator = true} are started pointing at it.
 */
@Documented
@Inherited
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@ExtendWith(MediatorExtension.class)
public @interface WithMediator {
    /** Compute backend: cpu (default), cuda or auto. */
    String backend() default "cpu";

    /** Run the daemon as a child process (java -jar mediator-lite.jar) instead of in this JVM. */
    boolean childProcess() default false;

    /**
     * Where it runs; {@link MediatorRuntime#CONTAINER} runs mediator-lite in its image (or {@link #image()}), the
     * socket in a bind-mounted directory, GPUs by a device request for backend cuda where the engine has the nvidia
     * runtime.
     */
    MediatorRuntime runtime() default MediatorRuntime.IN_PROCESS;

    /**
     * A user's own mediator image (local), run under the mediator contract (docs/MEDIATOR-CONTRACT.md: the socket
     * path as {@code VGPU_MEDIATOR_SOCKET} and as {@code --socket PATH} after its entry point, ready when the socket
     * answers a HELLO); implies {@link MediatorRuntime#CONTAINER}. Empty: mediator-lite.
     */
    String image() default "";

    /** Start it before the VMs boot; false = the test starts it (mediator-after-VM scenarios). */
    boolean startFirst() default true;

    /** --aging-ms (0 = off, so priorities alone decide the order). */
    long agingMs() default 1000;

    /** --workers-per-pool. */
    int workersPerPool() default 1;

    /**
     * The user's own mediator program instead of mediator-lite, run under docs/MEDIATOR-CONTRACT.md: these words
     * (split like a shell's, nothing expanded) with {@code --socket PATH} appended (or put where {@code {socket}}
     * stands), the contract's VGPU_MEDIATOR_* environment (agingMs as VGPU_MEDIATOR_AGING_MS), ready once its socket
     * answers a HELLO, stopped by SIGTERM, reaped with the JVM. backend, childProcess and workersPerPool do not apply.
     */
    String command() default "";
}
