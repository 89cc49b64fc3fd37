package dev.vgpuhil.mediator.backend;

import static dev.vgpuhil.protocol.VgpuProtocol.*;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import dev.vgpuhil.protocol.ComputeRequest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs the opcodes as CUDA kernels through the driver API: one context on device 0, the PTX module
 * {@code vgpu_kernels.ptx} (hand-written twin of src/main/cuda/vgpu_kernels.cu) JIT-loaded at start.
 * Calls are serialised: requests are at most 1 KiB, so one launch at a time keeps the context handling simple.
 */
public final class CudaBackend implements Backend {
    private static final String PTX_RESOURCE = "vgpu_kernels.ptx";
    private static final int BLOCK = 128;

    private final CudaDriver cu;
    private final Pointer context;
    private final Pointer module;
    private final Map<String, Pointer> kernels = new HashMap<>();
    private final String deviceName;
    private boolean closed;

    private CudaBackend(CudaDriver cu, Pointer context, Pointer module, String deviceName) {
        this.cu = cu;
        this.context = context;
        this.module = module;
        this.deviceName = deviceName;
    }

    /** Opens device 0 and loads the kernels; BackendException with the driver's reason when it cannot. */
    public static CudaBackend open() throws BackendException {
        var reason = CudaDriver.unavailableReason();
        if (reason.isPresent()) {
            throw new BackendException("CUDA backend unavailable: " + reason.get());
        }
        CudaDriver cu = CudaDriver.load().orElseThrow();
        IntByReference device = new IntByReference();
        check(cu, cu.cuDeviceGet(device, 0), "cuDeviceGet(0)");
        byte[] name = new byte[256];
        check(cu, cu.cuDeviceGetName(name, name.length, device.getValue()), "cuDeviceGetName");
        PointerByReference ctx = new PointerByReference();
        check(cu, cu.cuCtxCreate_v2(ctx, 0, device.getValue()), "cuCtxCreate");
        Pointer context = ctx.getValue();
        try {
            byte[] ptx = readPtx();
            Memory image = new Memory(ptx.length + 1L);
            image.write(0, ptx, 0, ptx.length);
            image.setByte(ptx.length, (byte) 0);
            PointerByReference mod = new PointerByReference();
            check(cu, cu.cuModuleLoadData(mod, image), "cuModuleLoadData(" + PTX_RESOURCE + ")");
            CudaBackend backend = new CudaBackend(
                    cu,
                    context,
                    mod.getValue(),
                    new String(name, 0, strlen(name), java.nio.charset.StandardCharsets.UTF_8));
            for (String k : List.of("vector_add", "scale", "saxpy", "echo_copy", "crc32")) {
                PointerByReference f = new PointerByReference();
                check(cu, cu.cuModuleGetFunction(f, backend.module, k), "cuModuleGetFunction(" + k + ")");
                backend.kernels.put(k, f.getValue());
            }
            return backend;
        } catch (BackendException | RuntimeException e) {
            cu.cuCtxDestroy_v2(context);
            throw e;
        }
    }

    @Override
    public String name() {
        return "cuda (" + deviceName + ")";
    }

    @Override
    public synchronized byte[] execute(ComputeRequest request) throws BackendException {
        if (closed) {
            throw new BackendException("CUDA backend is closed");
        }
        check(cu, cu.cuCtxSetCurrent(context), "cuCtxSetCurrent");
        byte[] ops = request.operands();
        int n = request.count();
        List<Long> allocations = new ArrayList<>();
        try {
            switch (request.opcode()) {
                case OP_ECHO: {
                    long in = upload(ops, allocations);
                    long out = alloc(n, allocations);
                    launch("echo_copy", n, ptr(in), ptr(out), u32(n));
                    return download(out, n);
                }
                case OP_CHECKSUM: {
                    long in = upload(ops, allocations);
                    long out = alloc(4, allocations);
                    launch("crc32", 1, ptr(in), ptr(out), u32(n));
                    return download(out, 4);
                }
                case OP_VECTOR_ADD: {
                    long a = upload(Arrays.copyOfRange(ops, 0, 4 * n), allocations);
                    long b = upload(Arrays.copyOfRange(ops, 4 * n, 8 * n), allocations);
                    long out = alloc(4 * n, allocations);
                    launch("vector_add", n, ptr(a), ptr(b), ptr(out), u32(n));
                    return download(out, 4 * n);
                }
                case OP_SCALE: {
                    long x = upload(Arrays.copyOfRange(ops, 4, 4 + 4 * n), allocations);
                    long out = alloc(4 * n, allocations);
                    launch("scale", n, f32(ops), ptr(x), ptr(out), u32(n));
                    return download(out, 4 * n);
                }
                case OP_SAXPY: {
                    long x = upload(Arrays.copyOfRange(ops, 4, 4 + 4 * n), allocations);
                    long y = upload(Arrays.copyOfRange(ops, 4 + 4 * n, 4 + 8 * n), allocations);
                    long out = alloc(4 * n, allocations);
                    launch("saxpy", n, f32(ops), ptr(x), ptr(y), ptr(out), u32(n));
                    return download(out, 4 * n);
                }
                default:
                    throw new BackendException("cuda backend has no kernel for " + opcodeName(request.opcode()));
            }
        } finally {
            for (long p : allocations) {
                cu.cuMemFree_v2(p);
            }
        }
    }

    private long alloc(long bytes, List<Long> allocations) throws BackendException {
        LongByReference p = new LongByReference();
        check(cu, cu.cuMemAlloc_v2(p, Math.max(bytes, 4)), "cuMemAlloc(" + bytes + ")");
        allocations.add(p.getValue());
        return p.getValue();
    }

    private long upload(byte[] data, List<Long> allocations) throws BackendException {
        long p = alloc(data.length, allocations);
        if (data.length > 0) {
            check(cu, cu.cuMemcpyHtoD_v2(p, data, data.length), "cuMemcpyHtoD");
        }
        return p;
    }

    private byte[] download(long p, int bytes) throws BackendException {
        byte[] out = new byte[bytes];
        check(cu, cu.cuCtxSynchronize(), "cuCtxSynchronize");
        if (bytes > 0) {
            check(cu, cu.cuMemcpyDtoH_v2(out, p, bytes), "cuMemcpyDtoH");
        }
        return out;
    }

    /** Each kernel argument lives in its own native cell; kernelParams points at those cells. */
    private void launch(String kernel, int threads, Memory... args) throws BackendException {
        if (threads <= 0) {
            return;
        }
        Memory params = new Memory(8L * args.length);
        for (int i = 0; i < args.length; i++) {
            params.setPointer(8L * i, args[i]);
        }
        int grid = (threads + BLOCK - 1) / BLOCK;
        check(
                cu,
                cu.cuLaunchKernel(
                        kernels.get(kernel), grid, 1, 1, Math.min(threads, BLOCK), 1, 1, 0, null, params, null),
                "cuLaunchKernel(" + kernel + ")");
    }

    private static Memory ptr(long devicePointer) {
        Memory m = new Memory(8);
        m.setLong(0, devicePointer);
        return m;
    }

    private static Memory u32(int value) {
        Memory m = new Memory(4);
        m.setInt(0, value);
        return m;
    }

    private static Memory f32(byte[] operands) {
        Memory m = new Memory(4);
        m.setFloat(
                0,
                ByteBuffer.wrap(operands, 0, 4).order(ByteOrder.LITTLE_ENDIAN).getFloat());
        return m;
    }

    private static void check(CudaDriver cu, int rc, String call) throws BackendException {
        if (rc != CudaDriver.CUDA_SUCCESS) {
            throw new BackendException(call + " failed: " + CudaDriver.errorName(cu, rc));
        }
    }

    private static byte[] readPtx() throws BackendException {
        try (InputStream in = CudaBackend.class.getResourceAsStream(PTX_RESOURCE)) {
            if (in == null) {
                throw new BackendException("PTX resource " + PTX_RESOURCE + " is missing from the jar");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new BackendException("cannot read PTX resource " + PTX_RESOURCE, e);
        }
    }

    private static int strlen(byte[] s) {
        int i = 0;
        while (i < s.length && s[i] != 0) {
            i++;
        }
        return i;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        cu.cuCtxSetCurrent(context);
        cu.cuModuleUnload(module);
        cu.cuCtxDestroy_v2(context);
    }
}
