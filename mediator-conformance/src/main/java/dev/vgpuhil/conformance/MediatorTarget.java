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
 * @param kind how it runs
 * @param spec    the command line or the image; empty for the lite targets
 */
public record MediatorTarget(Kind kind, String spec) {
    /** How the mediator under test runs. */
    public enum Kind {
        /** mediator-lite in the test JVM. */
        IN_PROCESS,
        /** mediator-lite as a child process ({@code java -jar mediator-lite.jar}, MediatorProcess). */
        PROCESS,
        /** mediator-lite in its container image (a {@link ContainerMediators} provider runs it). */
        CONTAINER,
        /** a user's program under the contract (CommandMediator). */
        COMMAND,
        /** a user's image under the contract (a {@link ContainerMediators} provider runs it). */
        IMAGE
    }

    /** How long a mediator may take to answer its first HELLO (a JVM or a container starting on a busy machine). */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(60);
    /** How long it may take to exit after SIGTERM before it is killed. */
    public static final Duration STOP_TIMEOUT = Duration.ofSeconds(20);

    public MediatorTarget {
        spec = spec == null ? "" : spec.strip();
        if ((kind == Kind.COMMAND || kind == Kind.IMAGE) && spec.isEmpty()) {
            throw new IllegalArgumentException(kind + " needs a command or an image");
        }
    }

    /** The target a setting value names; IllegalArgumentException naming the accepted forms otherwise. */
    public static MediatorTarget parse(String value) {
        String v = value.strip();
        if (v.equals("lite") || v.equals("lite-in-process")) {
            return new MediatorTarget(Kind.IN_PROCESS, "");
        }
        if (v.equals("lite-process")) {
            return new MediatorTarget(Kind.PROCESS, "");
        }
        if (v.equals("lite-container")) {
            return new MediatorTarget(Kind.CONTAINER, "");
        }
        if (v.startsWith("command:")) {
            return new MediatorTarget(Kind.COMMAND, v.substring("command:".length()));
        }
        if (v.startsWith("image:")) {
            return new MediatorTarget(Kind.IMAGE, v.substring("image:".length()));
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
        if (kind != Kind.CONTAINER && kind != Kind.IMAGE) {
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
        return switch (kind) {
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
        return switch (kind) {
            case IN_PROCESS -> "lite";
            case PROCESS -> "lite-process";
            case CONTAINER -> "lite-container";
            case COMMAND -> "command:" + spec;
            case IMAGE -> "image:" + spec;
        };
    }
}
