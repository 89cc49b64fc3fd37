package dev.vgpuhil.harness.junit;

import dev.vgpuhil.common.Setting;
import dev.vgpuhil.common.ShippedScripts;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The two executable jars the harness artifact carries as resources (harness/pom.xml copies them in at
 * prepare-package): the shaded guest agent, uploaded into every guest, and the mediator-lite daemon, for {@code
 * @WithMediator(childProcess = true)}. Each is written once per content into the cache ({@link
 * ShippedScripts#resource}); a setting names another jar, and with {@link Setting#REPO} a checkout's freshly built jar
 * is used.
 */
public final class Shipped {
    static final String AGENT_RESOURCE = "dev/vgpuhil/harness/shipped/guest-agent.jar";
    static final String MEDIATOR_RESOURCE = "dev/vgpuhil/harness/shipped/mediator-lite.jar";

    private Shipped() {}

    /** The guest agent: {@link Setting#AGENT_JAR}, else the shipped one, else a checkout's build. */
    public static Path agentJar() {
        return jar(
                Setting.AGENT_JAR,
                AGENT_RESOURCE,
                "guest-agent.jar",
                "guest-agent/target/guest-agent.jar",
                "guest-agent");
    }

    /** The mediator daemon: {@link Setting#MEDIATOR_JAR}, else the shipped one, else a checkout's build. */
    public static Path mediatorJar() {
        return jar(
                Setting.MEDIATOR_JAR,
                MEDIATOR_RESOURCE,
                "mediator-lite.jar",
                "mediator-lite/target/mediator-lite.jar",
                "mediator-lite");
    }

    private static Path jar(Setting setting, String resource, String name, String inCheckout, String module) {
        Path jar;
        String origin;
        if (setting.value().isPresent()) {
            jar = Path.of(setting.value().get());
            origin = setting.spelled();
        } else if (Setting.REPO.value().isPresent()) {
            jar = ShippedScripts.root().resolve(inCheckout);
            origin = Setting.REPO.spelled();
        } else {
            try {
                return ShippedScripts.resource(resource, name);
            } catch (IllegalStateException e) {
                throw new IllegalStateException(
                        "the harness artifact carries no " + name + " (" + resource + "): it was"
                                + " built without the package phase (run `mvn package`, not `mvn test`, before its ITs), or set "
                                + setting.spelled(),
                        e);
            }
        }
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException(name + " " + jar + " (from " + origin + ") does not exist; build it with "
                    + "`mvn -pl " + module + " -am package -DskipTests`");
        }
        return jar;
    }
}
