package dev.vgpuhil.qemu.machine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.vgpuhil.images.GuestImage;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** User networking: SSH forwarded from a free loopback port read back over HMP. */
class NetworkTest {
    @Test
    void sshPortIsReadBackAndSomethingListensThere() throws Exception {
        try (QemuMachine a =
                        TestMachines.bareKernel("net-a").userNetworking(true).start();
                QemuMachine b = TestMachines.bareKernel("net-b")
                        .userNetworking(true)
                        .forwardGuestPort(8080)
                        .start()) {
            assertThat(a.sshPort()).isPositive();
            assertThat(b.sshPort()).isPositive().isNotEqualTo(a.sshPort());
            assertThat(b.forwardedPort(8080)).isPositive().isNotIn(a.sshPort(), b.sshPort());
            assertThat(String.join(" ", a.commandLine())).contains("hostfwd=tcp:127.0.0.1:0-:22");
            assertThat(a.qmp().hmp("info usernet")).contains(Integer.toString(a.sshPort()));
            assertThat(a.runDir().resolve("machine.info"))
                    .content()
                    .contains("forward.guest22=127.0.0.1:" + a.sshPort());
            // slirp accepts on the host side even while the guest has no SSH server
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", a.sshPort()), 2_000);
                assertThat(s.isConnected()).isTrue();
            }
            assertThatThrownBy(() -> a.forwardedPort(8080))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("not forwarded");
        }
        try (QemuMachine none = TestMachines.bareKernel("net-none").start()) {
            assertThatThrownBy(none::sshPort).isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void theGuestsDropbearAnswersOnTheForwardedPort() throws Exception {
        long t0 = System.nanoTime();
        try (QemuMachine vm = TestMachines.guest("ssh")
                .userNetworking(true)
                .readyWhen(GuestImage.MARKER_SSH_READY)
                .start()) {
            System.out.printf(
                    "[timing] CI guest, TCG, with NIC: start() incl. '%s' %d ms%n",
                    GuestImage.MARKER_SSH_READY, (System.nanoTime() - t0) / 1_000_000);
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", vm.sshPort()), 5_000);
                s.setSoTimeout(20_000);
                InputStream in = s.getInputStream();
                StringBuilder banner = new StringBuilder();
                int c;
                while ((c = in.read()) != -1 && c != '\n') {
                    banner.append((char) c);
                }
                assertThat(banner.toString().getBytes(StandardCharsets.US_ASCII))
                        .isNotEmpty();
                assertThat(banner.toString()).startsWith("SSH-2.0-dropbear");
            }
        }
    }
}
