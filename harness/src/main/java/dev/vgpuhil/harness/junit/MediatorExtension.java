package dev.vgpuhil.harness.junit;

import dev.vgpuhil.harness.report.Reporting;
import java.util.Optional;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;
import org.junit.platform.commons.support.AnnotationSupport;

/**
 * {@link WithMediator}: one {@link MediatorHandle} per test class, in this extension's own store namespace (class
 * level), so
 * JUnit closes it after everything stored later (the VMs). {@link VgpuVmExtension} asks {@link #of} for it
 * before booting VMs, so the order in which the two annotations are written does not matter.
 * After each test the mediator's log and stats are attached to that test; a failed test keeps the log file.
 */
public final class MediatorExtension implements BeforeEachCallback, AfterEachCallback, ParameterResolver {
    private static final ExtensionContext.Namespace NS = ExtensionContext.Namespace.create(MediatorExtension.class);
    private static final String KEY = "mediator";

    /**
     * Made on first use, in a test's beforeEach (not in beforeAll: a start failure and its log must land in a test's
     * Allure result, which BeforeAll callbacks cannot attach to).
     */
    @Override
    public void beforeEach(ExtensionContext context) {
        of(context);
    }

    /**
     * The class's mediator, made (and started, unless {@code startFirst = false}) on first use; empty when the
     * class has no {@link WithMediator}.
     */
    public static Optional<MediatorHandle> of(ExtensionContext context) {
        Optional<WithMediator> a = annotation(context);
        if (a.isEmpty()) {
            return Optional.empty();
        }
        ExtensionContext classContext = classContext(context);
        MediatorHandle h = classContext
                .getStore(NS)
                .getOrComputeIfAbsent(
                        KEY,
                        k -> {
                            MediatorHandle m = MediatorHandle.from(a.get());
                            // what cannot exist here (no engine, no GPUs for a container) skips, saying what is missing
                            m.missing().ifPresent(why -> {
                                m.close();
                                throw new org.opentest4j.TestAbortedException(why);
                            });
                            if (a.get().startFirst()) {
                                try {
                                    m.start();
                                } catch (RuntimeException e) {
                                    Reporting.attachText("mediator log (failed start)", m.log());
                                    m.keepFiles();
                                    m.close();
                                    throw e;
                                }
                            }
                            return m;
                        },
                        MediatorHandle.class);
        return Optional.of(h);
    }

    static Optional<WithMediator> annotation(ExtensionContext context) {
        return context.getTestClass().flatMap(c -> AnnotationSupport.findAnnotation(c, WithMediator.class));
    }

    /** The context of the outermost-but-one level: the test class itself. */
    static ExtensionContext classContext(ExtensionContext context) {
        ExtensionContext c = context;
        while (c.getTestMethod().isPresent() && c.getParent().isPresent()) {
            c = c.getParent().get();
        }
        return c;
    }

    @Override
    public void afterEach(ExtensionContext context) {
        MediatorHandle h = classContext(context).getStore(NS).get(KEY, MediatorHandle.class);
        if (h == null) {
            return;
        }
        h.attachTo("");
        if (context.getExecutionException().isPresent()) {
            h.keepFiles();
            Reporting.always(context.getDisplayName() + " failed; mediator log: " + h.logFile());
        }
    }

    @Override
    public boolean supportsParameter(ParameterContext p, ExtensionContext e) {
        return p.getParameter().getType() == MediatorHandle.class;
    }

    @Override
    public Object resolveParameter(ParameterContext p, ExtensionContext e) {
        return of(e).orElseThrow(() -> new org.junit.jupiter.api.extension.ParameterResolutionException(
                "a MediatorHandle parameter needs @WithMediator on the test class"));
    }
}
