#!/usr/bin/env python3
"""A deliberately broken mediator of vgpu_protocol.h, for the conformance kit's own test (BrokenMediatorTest).

It follows the mediator contract (socket from --socket or VGPU_MEDIATOR_SOCKET, VGPU_MEDIATOR_MAX_CONNECTIONS,
exit 0 on SIGTERM) and most rules, but breaks exactly three, and offers no STATS (so the kit cannot observe
scheduling and must say so rather than pass):
  1. HELLO_ACK echoes the client's version instead of negotiating the minor down;
  2. an unknown opcode is answered BAD_PAYLOAD instead of BAD_OPCODE;
  3. CHECKSUM returns Adler-32 instead of CRC-32.
Requests run at once in the connection's thread: no queue, no priorities, no hold file.
"""
import os
import signal
import socket
import struct
import sys
import threading
import zlib

MAGIC = 0x55504756
MAJOR = 1
VERSION = 0x00010000
HEADER = struct.Struct("<IIHHIBBHIII")  # magic version msg_type flags vm_id pool prio reserved request_id len status
HELLO, HELLO_ACK, REQUEST, RESPONSE, STATS_REQUEST, STATS_REPLY = 1, 2, 3, 4, 5, 6
NONE, INVALID_LENGTH, PROTOCOL, REJECTED, BAD_OPCODE, BAD_PAYLOAD, NOT_PERMITTED, VERSION_ERR = (
    0x00, 0x01, 0x05, 0x06, 0x09, 0x0A, 0x0B, 0x0C)
POOLS = (0x41, 0x42)

lock = threading.Lock()
connections = set()


def socket_path():
    args = sys.argv[1:]
    if "--socket" in args:
        return args[args.index("--socket") + 1]
    return os.environ["VGPU_MEDIATOR_SOCKET"]


def frame(msg_type, vm, pool, prio, request_id, status, payload=b"", version=VERSION):
    return HEADER.pack(MAGIC, version, msg_type, 0, vm, pool, prio, 0, request_id, len(payload), status) + payload


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def compute(opcode, count, ops):
    """(status, result) of one request; the opcode and count are already consistent with the operand bytes."""
    if opcode == 0:
        return NONE, ops
    if opcode == 4:
        return NONE, struct.pack("<I", zlib.adler32(ops) & 0xFFFFFFFF)  # broken rule 3: not CRC-32
    floats = struct.unpack("<%df" % (len(ops) // 4), ops)
    if opcode == 1:
        a, b = floats[:count], floats[count:]
        out = [f32(a[i] + b[i]) for i in range(count)]
    elif opcode == 2:
        out = [f32(floats[0] * x) for x in floats[1:]]
    else:
        alpha, x, y = floats[0], floats[1:1 + count], floats[1 + count:]
        out = [f32(f32(alpha * x[i]) + y[i]) for i in range(count)]
    return NONE, struct.pack("<%df" % len(out), *out)


def expected_operands(opcode, count):
    return {0: count, 1: 8 * count, 2: 4 + 4 * count, 3: 4 + 8 * count, 4: count}.get(opcode)


def serve(conn):
    bound = None
    try:
        while True:
            head = read_exactly(conn, HEADER.size)
            if head is None:
                return
            magic, version, msg_type, flags, vm, pool, prio, reserved, request_id, length, status = HEADER.unpack(head)
            reply_type = {HELLO: HELLO_ACK, STATS_REQUEST: STATS_REPLY}.get(msg_type, RESPONSE)
            if magic != MAGIC or length > 1024:
                conn.sendall(frame(RESPONSE, vm, pool, prio, request_id, PROTOCOL))
                return
            payload = read_exactly(conn, length)
            if payload is None:
                return

            def reply(code, result=b"", version_word=VERSION):
                conn.sendall(frame(reply_type, vm, pool, prio, request_id, code, result, version_word))

            if version >> 16 != MAJOR:
                reply(VERSION_ERR)
            elif flags or reserved or status:
                reply(PROTOCOL)
            elif msg_type == HELLO:
                if bound is not None or payload or pool not in POOLS or prio > 2:
                    reply(PROTOCOL)
                else:
                    bound = vm
                    reply(NONE, version_word=version)  # broken rule 1: no min() of the minors
            elif msg_type == STATS_REQUEST:
                reply(PROTOCOL)  # no STATS (optional in the contract)
            elif msg_type != REQUEST:
                reply(PROTOCOL)
            elif bound is None or pool not in POOLS or prio > 2:
                reply(PROTOCOL)
            elif vm != bound:
                reply(NOT_PERMITTED)
            elif not payload:
                reply(INVALID_LENGTH)
            elif len(payload) < 8:
                reply(BAD_PAYLOAD)
            else:
                opcode, count = struct.unpack_from("<II", payload)
                need = expected_operands(opcode, count)
                if need is None:
                    reply(BAD_PAYLOAD)  # broken rule 2: should be BAD_OPCODE
                elif need != len(payload) - 8:
                    reply(BAD_PAYLOAD)
                else:
                    reply(*compute(opcode, count, payload[8:]))
    except OSError:
        return
    finally:
        with lock:
            connections.discard(conn)
        conn.close()


def main():
    path = socket_path()
    limit = int(os.environ.get("VGPU_MEDIATOR_MAX_CONNECTIONS", "256"))
    if os.path.exists(path):
        os.unlink(path)  # a stale file of a crashed run
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(64)

    def stop(signum, _frame):
        with lock:
            for c in list(connections):
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        try:
            os.unlink(path)
        except OSError:
            pass
        print("broken_mediator: stopped by signal %d" % signum, flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("broken_mediator: listening on %s" % path, flush=True)
    while True:
        conn, _ = server.accept()
        with lock:
            full = len(connections) >= limit
            if not full:
                connections.add(conn)
        if full:
            conn.sendall(frame(RESPONSE, 0, 0, 0, 0, REJECTED))
            conn.close()
            continue
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
