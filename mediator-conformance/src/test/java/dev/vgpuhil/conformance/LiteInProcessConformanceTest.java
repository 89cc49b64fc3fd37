package dev.vgpuhil.conformance;

import org.junit.platform.suite.api.ConfigurationParameter;
import org.junit.platform.suite.api.IncludeClassNamePatterns;
import org.junit.platform.suite.api.SelectPackages;
import org.junit.platform.suite.api.Suite;
import org.junit.platform.suite.api.SuiteDisplayName;

/** The kit against mediator-lite in-process (the reference mediator must pass every rule). */
@Suite
@SuiteDisplayName("mediator conformance: mediator-lite in-process")
@SelectPackages("dev.vgpuhil.conformance.rules")
@IncludeClassNamePatterns(".*Rules")
@ConfigurationParameter(key = "vgpu.conformance.mediator", value = "lite")
class LiteInProcessConformanceTest {}
