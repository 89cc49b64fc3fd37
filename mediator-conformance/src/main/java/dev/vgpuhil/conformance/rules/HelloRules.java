package dev.vgpuhil.conformance.rules;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.vgpuhil.conformance.Codes;
import dev.vgpuhil.conformance.Conformance;
import dev.vgpuhil.conformance.MediatorUnderTest;
import dev.vgpuhil.conformance.Peer;
import dev.vgpuhil.protocol.ComputeRequest;
import dev.vgpuhil.protocol.Frame;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

@Conformance
@DisplayName("HELLO and version negotiation")
public class HelloRules {
    private final MediatorUnderTest m;

    public HelloRules(MediatorUnderTest m) {
        this.m = m;
    }

    @Test
    @DisplayName("a HELLO is answered by HELLO_ACK with status NONE, version 1.0 and the HELLO's vm_id, pool and"
            + " priority")
    void helloIsAcknowledged() {
        int vm = m.freshVmId();
        Frame ack = m.connect().hello(vm, POOL_B, PRIORITY_HIGH);
        assertThat(ack.status())
                .as("HELLO_ACK status")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_NONE);
        assertThat(ack.version())
                .as("HELLO_ACK version")
                .withRepresentation(Codes.VERSION)
                .isEqualTo(PROTOCOL_VERSION);
        assertThat(ack.vmId()).as("HELLO_ACK vm_id").isEqualTo(vm);
        assertThat(ack.poolId()).as("HELLO_ACK pool").isEqualTo(POOL_B);
        assertThat(ack.priority()).as("HELLO_ACK priority").isEqualTo(PRIORITY_HIGH);
        assertThat(ack.payloadLen()).as("HELLO_ACK payload_len").isZero();
    }

    @Test
    @DisplayName("a HELLO with the same major and a higher minor is accepted; the ACK carries the lower minor"
            + " (min of both)")
    void minorIsNegotiated() {
        Peer p = m.connect();
        int vm = m.freshVmId();
        Frame ack = p.exchange(Frame.of(MSG_HELLO, vm, POOL_A, PRIORITY_LOW, 0, 0, null)
                .withVersion((PROTOCOL_MAJOR << 16) | (PROTOCOL_MINOR + 5)));
        assertThat(ack.msgType()).isEqualTo(MSG_HELLO_ACK);
        assertThat(ack.status())
                .as("HELLO_ACK status")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_NONE);
        assertThat(ack.version())
                .as("negotiated version (HELLO sent 1.5, this side speaks 1.0)")
                .withRepresentation(Codes.VERSION)
                .isEqualTo(PROTOCOL_VERSION);
    }

    @Test
    @DisplayName("a HELLO with another major version is refused with VERSION; the connection stays open for a"
            + " correct HELLO")
    void otherMajorIsRefused() {
        Peer p = m.connect();
        int vm = m.freshVmId();
        Frame ack = p.exchange(
                Frame.of(MSG_HELLO, vm, POOL_A, PRIORITY_LOW, 0, 0, null).withVersion((PROTOCOL_MAJOR + 1) << 16));
        assertThat(ack.msgType()).isEqualTo(MSG_HELLO_ACK);
        assertThat(ack.status())
                .as("HELLO_ACK status for major " + (PROTOCOL_MAJOR + 1))
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_VERSION);
        assertThat(p.hello(vm, POOL_A, PRIORITY_LOW).status())
                .as("a correct HELLO after it")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_NONE);
        p.assertStillServes("a refused HELLO");
    }

    @Test
    @DisplayName("a REQUEST before HELLO is answered PROTOCOL with its request_id; the connection goes on")
    void requestBeforeHello() {
        Peer p = m.connect();
        int vm = m.freshVmId();
        Frame req = Frame.of(
                MSG_REQUEST,
                vm,
                POOL_A,
                PRIORITY_LOW,
                41,
                0,
                ComputeRequest.echo(new byte[] {1}).encode());
        Frame r = p.exchange(req);
        assertThat(r.status()).as("status").withRepresentation(Codes.STATUS).isEqualTo(ERR_PROTOCOL);
        assertThat(r.requestId()).as("request_id").isEqualTo(41);
        assertThat(p.hello(vm, POOL_A, PRIORITY_LOW).status())
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_NONE);
        p.assertStillServes("a REQUEST before HELLO");
    }

    @Test
    @DisplayName("a second HELLO on a bound connection is refused with PROTOCOL; the first binding stays")
    void repeatedHello() {
        int vm = m.freshVmId();
        Peer p = m.hello(vm, POOL_A, PRIORITY_LOW);
        int other = m.freshVmId();
        Frame again = p.exchange(Frame.of(MSG_HELLO, other, POOL_A, PRIORITY_LOW, 0, 0, null));
        assertThat(again.msgType()).isEqualTo(MSG_HELLO_ACK);
        assertThat(again.status())
                .as("status of the second HELLO")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        Frame foreign = p.exchange(Frame.of(
                MSG_REQUEST,
                other,
                POOL_A,
                PRIORITY_LOW,
                7,
                0,
                ComputeRequest.echo(new byte[] {1}).encode()));
        assertThat(foreign.status())
                .as("a REQUEST for the second HELLO's vm_id")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_NOT_PERMITTED);
        p.assertStillServes("a repeated HELLO");
    }

    @Test
    @DisplayName("a HELLO with a pool other than A or B, or a priority above HIGH, is refused with PROTOCOL")
    void helloWithBadPoolOrPriority() {
        Peer p = m.connect();
        int vm = m.freshVmId();
        assertThat(p.hello(vm, 'C', PRIORITY_LOW).status())
                .as("pool 'C'")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        assertThat(p.hello(vm, POOL_A, PRIORITY_HIGH + 1).status())
                .as("priority " + (PRIORITY_HIGH + 1))
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_PROTOCOL);
        assertThat(p.hello(vm, POOL_A, PRIORITY_LOW).status())
                .as("a correct HELLO after them")
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_NONE);
    }

    @Test
    @DisplayName("a HELLO with a payload is refused with PROTOCOL (HELLO carries none)")
    void helloWithPayload() {
        Peer p = m.connect();
        int vm = m.freshVmId();
        Frame ack = p.exchange(Frame.of(MSG_HELLO, vm, POOL_A, PRIORITY_LOW, 0, 0, new byte[] {1, 2, 3, 4}));
        assertThat(ack.status()).withRepresentation(Codes.STATUS).isEqualTo(ERR_PROTOCOL);
        assertThat(p.hello(vm, POOL_A, PRIORITY_LOW).status())
                .withRepresentation(Codes.STATUS)
                .isEqualTo(ERR_NONE);
    }

    @Test
    @DisplayName("two bound connections are served independently, each reply on its own connection")
    void helloPerConnection() {
        int a = m.freshVmId();
        int b = m.freshVmId();
        Peer pa = m.hello(a, POOL_A, PRIORITY_LOW);
        Peer pb = m.hello(b, POOL_B, PRIORITY_MEDIUM);
        Frame ra = pa.request(1, ComputeRequest.echo(new byte[] {(byte) 0xA}));
        Frame rb = pb.request(1, ComputeRequest.echo(new byte[] {(byte) 0xB}));
        assertThat(ra.payload()).containsExactly(0xA);
        assertThat(rb.payload()).containsExactly(0xB);
    }
}
