package dev.vgpuhil.conformance;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/** A socket file nobody listens on, as a SIGKILLed mediator leaves it (bind, close: the file stays). */
public final class StaleSocket {
    private StaleSocket() {}

    public static void leaveAt(Path socket) {
        try {
            Files.deleteIfExists(socket);
            try (ServerSocketChannel s = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
                s.bind(UnixDomainSocketAddress.of(socket));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot leave a stale socket file at " + socket, e);
        }
    }
}
