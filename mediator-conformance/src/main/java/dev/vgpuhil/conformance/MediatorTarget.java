package dev.vgpuhil.conformance;

import dev.vgpuhil.common.Setting;
import dev.vgpuhil.mediator.contract.CommandMediator;
import dev.vgpuhil.mediator.contract.ContractMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import java.time.Duration;
import java.util.Optional;
import java.util.function.Function;

/**
 * The mediator the kit tests, as the one setting {@link Setting#CONFORMANCE_MEDIATOR} spells it: {@code lite},
 * {@code lite-process}, {@code lite-container}, {@code command:PROGRAM ARGS...} or {@code image:NAME:TAG}.
 *
 * @param runtime how it runs
 * @param spec    the command line or the image; empty for the lite targets
 */
public record MediatorTarget(MediatorRuntime runtime, String spec) {
    /** How long a mediator may take to answer its first HELLO (a JVM or a container starting on a busy machine). */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
    /** How long it may take to exit after SIGTERM before it is killed. */
    public static final Duration STOP_TIMEOUT = Duration.ofSeconds(20);

    public MediatorTarget {
        spec = spec == null ? "" : spec.strip();
        if ((runtime == MediatorRuntime.COMMAND || runtime == MediatorRuntime.IMAGE) && spec.isEmpty()) {
            throw new IllegalArgumentException(runtime + " needs a command or an image");
        }
    }

    /** The target a setting value names; IllegalArgumentException naming the accepted forms otherwise. */
    public static MediatorTarget parse(String value) {
        String v = value.strip();
        if (v.equals("lite") || v.equals("lite-in-process")) {
            return new MediatorTarget(MediatorRuntime.IN_PROCESS, "");
        }
        if (v.equals("lite-process")) {
            return new MediatorTarget(MediatorRuntime.PROCESS, "");
        }
        if (v.equals("lite-container")) {
            return new MediatorTarget(MediatorRuntime.CONTAINER, "");
        }
        if (v.startsWith("command:")) {
            return new MediatorTarget(MediatorRuntime.COMMAND, v.substring("command:".length()));
        }
        if (v.startsWith("image:")) {
            return new MediatorTarget(MediatorRuntime.IMAGE, v.substring("image:".length()));
        }
        throw new IllegalArgumentException(Setting.CONFORMANCE_MEDIATOR.spelled() + "='" + value
                + "' is none of lite, lite-process, lite-container, command:PROGRAM ARGS..., image:NAME:TAG");
    }

    /** The setting's target, looked up through {@code properties} (JUnit configuration parameters) then the env. */
    public static MediatorTarget fromSettings(Function<String, String> properties) {
        return parse(Setting.CONFORMANCE_MEDIATOR
                .value(properties, System::getenv)
                .orElse(Setting.CONFORMANCE_MEDIATOR.defaultText()));
    }

    /** Why this target cannot run here (a container target without an engine), or empty. */
    public Optional<String> unavailable() {
        if (runtime != MediatorRuntime.CONTAINER && runtime != MediatorRuntime.IMAGE) {
            return Optional.empty();
        }
        Optional<ContainerMediators> engine = ContainerMediators.find();
        if (engine.isEmpty()) {
            return Optional.of("no container runtime on the class path (no " + ContainerMediators.class.getName()
                    + " provider): the " + this + " target needs one");
        }
        return engine.get().unavailable();
    }

    /** A mediator for one launch, not yet started. */
    public ContractMediator create(MediatorLaunch launch) {
        return switch (runtime) {
            case IN_PROCESS -> new LiteInProcess(launch);
            case PROCESS -> new LiteProcess(launch, READY_TIMEOUT, STOP_TIMEOUT);
            case COMMAND -> CommandMediator.of(spec, launch, READY_TIMEOUT, STOP_TIMEOUT);
            case CONTAINER -> engine().mediatorLite(launch, READY_TIMEOUT, STOP_TIMEOUT);
            case IMAGE -> engine().image(spec, launch, READY_TIMEOUT, STOP_TIMEOUT);
        };
    }

    private static ContainerMediators engine() {
        return ContainerMediators.find()
                .orElseThrow(() -> new IllegalStateException(
                        "no " + ContainerMediators.class.getName() + " provider on the class path"));
    }

    @Override
    public String toString() {
        return switch (runtime) {
            case IN_PROCESS -> "lite";
            case PROCESS -> "lite-process";
            case CONTAINER -> "lite-container";
            case COMMAND -> "command:" + spec;
            case IMAGE -> "image:" + spec;
        };
    }
}
