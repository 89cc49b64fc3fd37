package dev.vgpuhil.mediator;

import java.util.logging.LogManager;

/**
 * The daemon's LogManager. The JDK's own LogManager closes every handler from a shutdown hook of its own,
 * racing the mediator's shutdown hook, so the lines written while stopping ("shutting down", the requests
 * answered SHUTDOWN, "stopped; counters ...") were lost on SIGTERM. This one ignores that reset;
 * {@link MediatorMain} resets for real after the mediator has stopped. Installed by MediatorMain through
 * {@code java.util.logging.manager} before anything logs; unused when the mediator runs in-process.
 */
public final class MediatorLogManager extends LogManager {
    private static final String JDK_CLEANER = "java.util.logging.LogManager$Cleaner";

    public MediatorLogManager() {
        super();
    }

    @Override
    public void reset() {
        if (Thread.currentThread().getClass().getName().equals(JDK_CLEANER)) {
            return;
        }
        super.reset();
    }

    /** Flushes and closes the handlers once the mediator has logged its last line. */
    static void resetAtExit() {
        LogManager m = LogManager.getLogManager();
        if (m instanceof MediatorLogManager mine) {
            mine.resetNow();
        }
    }

    private void resetNow() {
        super.reset();
    }
}
