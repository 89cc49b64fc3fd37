package dev.vgpuhil.qemu.qtest;

/**
 * Run in a separate JVM by QtestSessionLifecycleTest: starts a qtest QEMU, prints its pid, then waits to be
 * killed. The test SIGKILLs this JVM and checks that QEMU does not survive it.
 */
public final class QtestOrphanProbe {
    private QtestOrphanProbe() {}

    public static void main(String[] args) throws Exception {
        QtestSession s = QtestSession.builder(TestQemu.stock()).start();
        System.out.println("QEMU_PID " + s.pid() + " RUN_DIR " + s.runDir());
        System.out.flush();
        Thread.sleep(120_000); // the test kills us long before; the sleep only bounds a forgotten probe
    }
}
