package dev.vgpuhil.qemu.device;

import dev.vgpuhil.qemu.qtest.TestQemu;
import io.qameta.allure.Allure;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ClassTemplateInvocationContext;
import org.junit.jupiter.api.extension.ClassTemplateInvocationContextProvider;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.Extension;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * The hostings the device suite runs on, and the one a test is running on now.
 *
 * <p>The list: one {@link DeviceHosting.InQemu} per entry of {@link TestQemu#vgpuMatrix()} (the matrix that
 * {@code bin/vgpu-hil test} passes as {@code -Dvgpu.qemu.matrix=7.2=PATH,10.0=PATH,...}); without it (a developer
 * running one test) the single QEMU of {@code -Dvgpu.qemu} / {@code VGPU_QEMU} / build-qemu.sh. Add a hosting
 * (e.g. vfio-user on stock QEMU 11.1) in {@link #all()}.
 *
 * <p>{@link #current()} is the running class's: device classes, and the hostings of one class, run side by side
 * (the parent's {@code vgpu.junit.classesSideBySide}), each on its own thread, so it is a thread-local of the test's
 * thread (only test code asks for it; a JVM-wide static made one class start another hosting's QEMU). Each class
 * run restores the value it found, so a worker that runs another class while it waits keeps the right one.
 */
public final class DeviceHostings {
    private static final ThreadLocal<DeviceHosting> CURRENT = new ThreadLocal<>();

    private DeviceHostings() {}

    /** Every hosting of this run, in matrix order, then vfio-user on stock QEMU 11.1 when -Dvgpu.qemu.stock is set. */
    public static List<DeviceHosting> all() {
        List<TestQemu.Line> matrix = TestQemu.vgpuMatrix();
        List<DeviceHosting> all = new java.util.ArrayList<>(
                matrix.isEmpty()
                        ? List.of(single())
                        : matrix.stream()
                                .<DeviceHosting>map(l -> new DeviceHosting.InQemu("qemu " + l.name(), l.qemu()))
                                .toList());
        TestQemu.stock11()
                .ifPresent(q -> all.add(new DeviceHosting.VfioUser("vfio-user " + majorMinor(q.version()), q)));
        return List.copyOf(all);
    }

    /** The hosting of the running {@link OnEveryHosting} class, else the single default QEMU. */
    public static DeviceHosting current() {
        DeviceHosting h = CURRENT.get();
        return h != null ? h : single();
    }

    /** The run's one QEMU (-Dvgpu.qemu ...): in-QEMU if it has vgpu-stub, else (a stock QEMU) over vfio-user. */
    private static DeviceHosting single() {
        var qemu = TestQemu.vgpu();
        return qemu.hasVgpuStub()
                ? new DeviceHosting.InQemu("qemu " + majorMinor(qemu.version()), qemu)
                : new DeviceHosting.VfioUser("vfio-user " + majorMinor(qemu.version()), qemu);
    }

    /** "7.2.22" -> "7.2"; anything else as it is. */
    static String majorMinor(String version) {
        var m = java.util.regex.Pattern.compile("^(\\d+\\.\\d+)").matcher(version);
        return m.find() ? m.group(1) : version;
    }

    /** The class template behind {@link OnEveryHosting}: one invocation per hosting. */
    static final class Template implements ClassTemplateInvocationContextProvider {
        @Override
        public boolean supportsClassTemplate(ExtensionContext context) {
            return true;
        }

        @Override
        public Stream<ClassTemplateInvocationContext> provideClassTemplateInvocationContexts(ExtensionContext context) {
            return all().stream().map(Invocation::new);
        }
    }

    private record Invocation(DeviceHosting hosting) implements ClassTemplateInvocationContext {
        @Override
        public String getDisplayName(int invocationIndex) {
            return "[" + hosting.name() + "]";
        }

        @Override
        public List<Extension> getAdditionalExtensions() {
            return List.of(new Current(hosting));
        }
    }

    /**
     * Makes {@code hosting} the current one for the class run, names it in each test's Allure result (name suffix
     * and a "hosting" parameter: JUnit's own names only say "[1]", "[2]"), and resolves {@code DeviceHosting}
     * parameters.
     */
    private record Current(DeviceHosting hosting)
            implements BeforeAllCallback, BeforeEachCallback, AfterAllCallback, ParameterResolver, ExecutionCondition {
        /** {@link InQemuOnly} tests are disabled, with their reason, on the vfio-user hosting. */
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            if (!hosting.vfioUser()) {
                return ConditionEvaluationResult.enabled("in-QEMU hosting");
            }
            return context.getElement()
                    .flatMap(e -> java.util.Optional.ofNullable(e.getAnnotation(InQemuOnly.class)))
                    .or(() -> context.getTestClass().map(c -> c.getAnnotation(InQemuOnly.class)))
                    .map(a -> ConditionEvaluationResult.disabled(
                            "in-QEMU only, differs on " + hosting.name() + ": " + a.value()))
                    .orElse(ConditionEvaluationResult.enabled("runs on every hosting"));
        }

        private static final ExtensionContext.Namespace NAMESPACE =
                ExtensionContext.Namespace.create(DeviceHostings.class);

        @Override
        public void beforeAll(ExtensionContext context) {
            DeviceHosting before = CURRENT.get();
            context.getStore(NAMESPACE).put(Previous.class, new Previous(before));
            CURRENT.set(hosting);
        }

        @Override
        public void beforeEach(ExtensionContext context) {
            CURRENT.set(hosting); // (beforeAll of a class template's own extensions does not reliably run first)
            String label = " [" + hosting.name() + "]";
            Allure.getLifecycle().updateTestCase(r -> {
                if (!r.getName().endsWith(label)) {
                    r.setName(r.getName() + label);
                }
            });
            Allure.parameter("hosting", hosting.name());
        }

        @Override
        public void afterAll(ExtensionContext context) {
            Previous previous = context.getStore(NAMESPACE).remove(Previous.class, Previous.class);
            if (previous == null || previous.hosting() == null) {
                CURRENT.remove();
            } else {
                CURRENT.set(previous.hosting());
            }
        }

        /** The hosting this thread had before the class run (another class's, when a worker runs two). */
        private record Previous(DeviceHosting hosting) {}

        @Override
        public boolean supportsParameter(ParameterContext p, ExtensionContext e) {
            return p.getParameter().getType() == DeviceHosting.class;
        }

        @Override
        public Object resolveParameter(ParameterContext p, ExtensionContext e) {
            return hosting;
        }
    }
}
