package dev.vgpuhil.conformance;

import dev.vgpuhil.mediator.contract.CommandMediator;
import dev.vgpuhil.mediator.contract.MediatorLaunch;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Run as its own JVM by CommandMediatorTest: starts the command of args[1..] in directory args[0] under the
 * contract, prints {@code mediator-pid=N} and waits to be SIGKILLed. The program must not outlive it.
 */
public final class CommandMediatorOrphanProbe {
    private CommandMediatorOrphanProbe() {}

    public static void main(String[] args) throws Exception {
        CommandMediator m = new CommandMediator(
                java.util.Arrays.asList(args).subList(1, args.length),
                MediatorLaunch.in(Path.of(args[0])),
                Duration.ofSeconds(60),
                Duration.ofSeconds(10));
        m.start();
        System.out.println("mediator-pid=" + m.pid());
        System.out.flush();
        Thread.sleep(Long.MAX_VALUE);
    }
}
