package dev.vgpuhil.conformance;

import org.junit.platform.suite.api.IncludeClassNamePatterns;
import org.junit.platform.suite.api.SelectPackages;
import org.junit.platform.suite.api.Suite;
import org.junit.platform.suite.api.SuiteDisplayName;

/**
 * The whole kit: every rule class of {@code dev.vgpuhil.conformance.rules}, against the mediator that
 * {@code vgpu.conformance.mediator} names (default: mediator-lite in-process). A user's project runs it with
 * Surefire's {@code <dependenciesToScan>dev.vgpuhil:vgpu-mediator-conformance</dependenciesToScan>} (its name matches
 * Surefire's default includes) and {@code -Dvgpu.conformance.mediator=command:/path/to/mediator}.
 */
@Suite
@SuiteDisplayName("mediator conformance")
@SelectPackages("dev.vgpuhil.conformance.rules")
@IncludeClassNamePatterns(".*Rules")
public class MediatorConformanceTest {}
