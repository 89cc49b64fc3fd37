package dev.vgpuhil.conformance;

import org.junit.platform.suite.api.ConfigurationParameter;
import org.junit.platform.suite.api.IncludeClassNamePatterns;
import org.junit.platform.suite.api.SelectPackages;
import org.junit.platform.suite.api.Suite;
import org.junit.platform.suite.api.SuiteDisplayName;

/**
 * The kit against mediator-lite's jar given as a user's command: only the contract reaches it (--socket and the
 * VGPU_MEDIATOR_* environment, no mediator-lite option but the backend), as any user's mediator program. The path
 * is relative to this module, the test JVM's working directory.
 */
@Suite
@SuiteDisplayName("mediator conformance: mediator-lite as a user's command")
@SelectPackages("dev.vgpuhil.conformance.rules")
@IncludeClassNamePatterns(".*Rules")
@ConfigurationParameter(
        key = "vgpu.conformance.mediator",
        value = "command:java -jar ../mediator-lite/target/mediator-lite.jar --backend cpu --no-request-log")
class LiteCommandConformanceTest {}
