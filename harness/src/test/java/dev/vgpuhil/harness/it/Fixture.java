package dev.vgpuhil.harness.it;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A test class that an outer test runs through its own engine/launcher (with configuration parameter
 * {@value #PARAMETER}=true) to check the extensions. Run any other way (a surefire/failsafe pattern such as
 * {@code dev.vgpuhil.harness.**} also matches nested classes) it is skipped: its failures are deliberate.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
@ExtendWith(Fixture.Condition.class)
@interface Fixture {
    String PARAMETER = "vgpu.harness.fixture";

    final class Condition implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            return context.getConfigurationParameter(PARAMETER)
                            .map(Boolean::parseBoolean)
                            .orElse(false)
                    ? ConditionEvaluationResult.enabled("run by its outer test")
                    : ConditionEvaluationResult.disabled("a fixture of an outer test; runs only through it");
        }
    }
}
