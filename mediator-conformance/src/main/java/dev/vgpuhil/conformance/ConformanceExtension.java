package dev.vgpuhil.conformance;

import dev.vgpuhil.mediator.contract.MediatorLaunch;
import io.qameta.allure.Allure;
import java.time.Duration;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;
import org.opentest4j.TestAbortedException;

/**
 * Runs the mediator under test for a {@link Conformance} class (or afresh for each rule, {@code perRule}) with the
 * annotation's knobs and the target of the setting {@code vgpu.conformance.mediator} (a JUnit configuration
 * parameter of that name wins: that is how one build runs the kit against several targets). The report gets the
 * target as the parent suite and, for a rule that did not pass, the mediator's log.
 */
public final class ConformanceExtension
        implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback, ParameterResolver {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(ConformanceExtension.class);

    @Override
    public void beforeAll(ExtensionContext context) {
        MediatorTarget target = MediatorTarget.fromSettings(
                k -> context.getConfigurationParameter(k).orElse(null));
        target.unavailable().ifPresent(why -> {
            // a class-level abort shows in no test count: say it where the build's output is read
            System.err.println("[vgpu-kit] " + context.getDisplayName() + ": skipped, " + why);
            throw new TestAbortedException(why);
        });
        Conformance c = settings(context);
        MediatorUnderTest m = new MediatorUnderTest(
                target,
                dir -> MediatorLaunch.in(dir)
                        .withQueueCap(c.queueCap())
                        .withAging(Duration.ofMillis(c.agingMs()))
                        .withMaxConnections(c.maxConnections()));
        context.getStore(NS).put(MediatorUnderTest.class, m);
        if (!c.perRule()) {
            m.open();
        }
    }

    @Override
    public void beforeEach(ExtensionContext context) {
        MediatorUnderTest m = mediator(context);
        if (settings(context).perRule()) {
            m.open();
        }
        m.beginRule();
        Allure.label("parentSuite", "mediator " + m.target());
        Allure.parameter("mediator", m.target().toString());
    }

    @Override
    public void afterEach(ExtensionContext context) {
        MediatorUnderTest m = mediator(context);
        if (context.getExecutionException().isPresent()) {
            try {
                Allure.addAttachment(
                        "mediator log (" + m.describe() + ")",
                        "text/plain",
                        dev.vgpuhil.common.BoundProcesses.tail(m.log(), 400),
                        ".txt");
            } catch (IllegalStateException e) {
                // not open (it did not start): the start failure's message carries its log
            }
        }
        if (settings(context).perRule()) {
            m.shut();
        } else {
            m.endRule();
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        MediatorUnderTest m = context.getStore(NS).remove(MediatorUnderTest.class, MediatorUnderTest.class);
        if (m != null) {
            m.shut();
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return parameterContext.getParameter().getType() == MediatorUnderTest.class;
    }

    @Override
    public Object resolveParameter(ParameterContext parameterContext, ExtensionContext extensionContext) {
        return mediator(extensionContext);
    }

    private static MediatorUnderTest mediator(ExtensionContext context) {
        MediatorUnderTest m = context.getStore(NS).get(MediatorUnderTest.class, MediatorUnderTest.class);
        if (m == null) {
            throw new IllegalStateException("no mediator under test for " + context.getDisplayName());
        }
        return m;
    }

    private static Conformance settings(ExtensionContext context) {
        return AnnotationSupport.findAnnotation(context.getRequiredTestClass(), Conformance.class)
                .orElseThrow(() -> new IllegalStateException(context.getRequiredTestClass() + " lacks @Conformance"));
    }
}
