package dev.vgpuhil.conformance;

import org.junit.platform.suite.api.IncludeClassNamePatterns;
import org.junit.platform.suite.api.SelectPackages;
import org.junit.platform.suite.api.Suite;
import org.junit.platform.suite.api.SuiteDisplayName;

/**
 * The kit against the mediator the setting names, from this checkout:
 * {@code -Dtest=SettingConformanceTest -Dvgpu.conformance.mediator=command:...}. Left out of the default run
 * (pom.xml excludes it): the Lite*ConformanceTest suites cover mediator-lite there.
 */
@Suite
@SuiteDisplayName("mediator conformance: the mediator of vgpu.conformance.mediator")
@SelectPackages("dev.vgpuhil.conformance.rules")
@IncludeClassNamePatterns(".*Rules")
class SettingConformanceTest {}
