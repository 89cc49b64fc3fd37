package dev.vgpuhil.mediator.backend;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import com.sun.jna.ptr.IntByReference;
import com.sun.jna.ptr.LongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.util.Optional;

/** The few CUDA driver API calls the backend needs (libcuda via JNA; CUdeviceptr is a 64-bit value). */
public interface CudaDriver extends Library {

    int CUDA_SUCCESS = 0;

    int cuInit(int flags);

    int cuDeviceGetCount(IntByReference count);

    int cuDeviceGet(IntByReference device, int ordinal);

    int cuDeviceGetName(byte[] name, int length, int device);

    int cuCtxCreate_v2(PointerByReference context, int flags, int device);

    int cuCtxDestroy_v2(Pointer context);

    int cuCtxSetCurrent(Pointer context);

    int cuCtxSynchronize();

    int cuModuleLoadData(PointerByReference module, Pointer image);

    int cuModuleUnload(Pointer module);

    int cuModuleGetFunction(PointerByReference function, Pointer module, String name);

    int cuMemAlloc_v2(LongByReference devicePointer, long bytes);

    int cuMemFree_v2(long devicePointer);

    int cuMemcpyHtoD_v2(long destination, byte[] source, long bytes);

    int cuMemcpyDtoH_v2(byte[] destination, long source, long bytes);

    int cuLaunchKernel(
            Pointer function,
            int gridX,
            int gridY,
            int gridZ,
            int blockX,
            int blockY,
            int blockZ,
            int sharedMemBytes,
            Pointer stream,
            Pointer kernelParams,
            Pointer extra);

    int cuGetErrorName(int error, PointerByReference name);

    /** Loads libcuda (the driver, not the toolkit); empty with the reason folded into the probe otherwise. */
    static Optional<CudaDriver> load() {
        try {
            return Optional.of(Native.load("cuda", CudaDriver.class));
        } catch (UnsatisfiedLinkError e) {
            return Optional.empty();
        }
    }

    /**
     * Whether a CUDA device answers here: libcuda loads, cuInit(0) succeeds and cuDeviceGetCount &gt; 0.
     * Returns empty when one does, else the reason none does (used for --backend auto/cuda and test skips).
     */
    static Optional<String> unavailableReason() {
        Optional<CudaDriver> driver = load();
        if (driver.isEmpty()) {
            return Optional.of("libcuda (the NVIDIA driver library) cannot be loaded: no NVIDIA driver installed");
        }
        CudaDriver cu = driver.get();
        int rc = cu.cuInit(0);
        if (rc != CUDA_SUCCESS) {
            return Optional.of("cuInit(0) failed with " + errorName(cu, rc) + ": no usable CUDA GPU");
        }
        IntByReference count = new IntByReference();
        rc = cu.cuDeviceGetCount(count);
        if (rc != CUDA_SUCCESS) {
            return Optional.of("cuDeviceGetCount failed with " + errorName(cu, rc));
        }
        if (count.getValue() <= 0) {
            return Optional.of("cuDeviceGetCount reports no CUDA device");
        }
        return Optional.empty();
    }

    static String errorName(CudaDriver cu, int rc) {
        try {
            PointerByReference name = new PointerByReference();
            if (cu.cuGetErrorName(rc, name) == CUDA_SUCCESS && name.getValue() != null) {
                return name.getValue().getString(0) + " (" + rc + ")";
            }
        } catch (RuntimeException | UnsatisfiedLinkError ignored) {
            // fall through to the number
        }
        return "CUresult " + rc;
    }
}
