package dev.vgpuhil.mediator.bench;

/** Placeholder replaced below. */
public final class MediatorBenchmark {
    private MediatorBenchmark() {}

    public static void main(String[] args) throws Exception {
        throw new UnsupportedOperationException("benchmark not written yet");
    }
}
