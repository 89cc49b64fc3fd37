package dev.vgpuhil.mediator.backend;

import static dev.vgpuhil.protocol.VgpuProtocol.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.vgpuhil.mediator.BackendChoice;
import dev.vgpuhil.protocol.ComputeRequest;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;

/**
 * The compute backends. The CPU backend is checked against independent arithmetic; the CUDA backend against the
 * CPU backend, byte for byte, where a GPU answers (skipped with the reason elsewhere); the PTX resource against
 * what CudaBackend launches, everywhere.
 */
class BackendsTest {
    static final String NO_GPU = "no CUDA GPU on this machine: ";
    /** (1024 - 8 - 4) / 8: the largest saxpy that fits the request buffer. */
    static final int SAXPY_MAX = (REQ_BUFFER_SIZE - REQUEST_HEADER_SIZE - 4) / 8;

    static Optional<String> noGpu() {
        return CudaDriver.unavailableReason();
    }

    // ------------------------------------------------------------------ CPU

    @Test
    void cpuComputesEveryOpcodeIncludingEmptyAndFullSizeRequests() throws Exception {
        CpuBackend cpu = new CpuBackend();
        Random rnd = new Random(7);
        for (int n : new int[] {0, 1, 31, VECTOR_ADD_MAX_ELEMENTS}) {
            float[] a = randomFloats(rnd, n);
            float[] b = randomFloats(rnd, n);
            float[] sum = ComputeRequest.toFloats(cpu.execute(ComputeRequest.vectorAdd(a, b)));
            float[] scaled = ComputeRequest.toFloats(cpu.execute(ComputeRequest.scale(-1.5f, a)));
            int m = Math.min(n, SAXPY_MAX); // alpha takes 4 bytes: one element fewer fits
            float[] saxpy = ComputeRequest.toFloats(cpu.execute(
                    ComputeRequest.saxpy(0.25f, java.util.Arrays.copyOf(a, m), java.util.Arrays.copyOf(b, m))));
            assertThat(sum).hasSize(n);
            assertThat(saxpy).hasSize(m);
            for (int i = 0; i < n; i++) {
                assertThat(sum[i]).isEqualTo(a[i] + b[i]);
                assertThat(scaled[i]).isEqualTo(-1.5f * a[i]);
            }
            for (int i = 0; i < m; i++) {
                float ax = 0.25f * a[i];
                assertThat(saxpy[i]).isEqualTo(ax + b[i]);
            }
        }
        for (int n : new int[] {0, 1, 9, REQ_BUFFER_SIZE - REQUEST_HEADER_SIZE}) {
            byte[] data = new byte[n];
            rnd.nextBytes(data);
            assertThat(cpu.execute(ComputeRequest.echo(data))).isEqualTo(data);
            CRC32 crc = new CRC32();
            crc.update(data);
            assertThat(ByteBuffer.wrap(cpu.execute(ComputeRequest.checksum(data)))
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .getInt())
                    .isEqualTo((int) crc.getValue());
        }
        assertThat(ByteBuffer.wrap(
                                cpu.execute(ComputeRequest.checksum("123456789".getBytes(StandardCharsets.US_ASCII))))
                        .order(ByteOrder.LITTLE_ENDIAN)
                        .getInt())
                .isEqualTo(0xCBF43926);
    }

    /** saxpy is mul then add, each rounded (what the PTX does with mul.rn + add.rn), never a fused multiply-add. */
    @Test
    void cpuSaxpyIsNotFused() throws Exception {
        float alpha = 1.0f + 0x1p-12f;
        float x = 1.0f + 0x1p-12f;
        float y = -(1.0f + 0x1p-11f);
        float separate = alpha * x + y; // Java float arithmetic rounds each step
        float fused = Math.fma(alpha, x, y);
        assertThat(separate).isNotEqualTo(fused); // the inputs do tell the two apart
        float[] r = ComputeRequest.toFloats(
                new CpuBackend().execute(ComputeRequest.saxpy(alpha, new float[] {x}, new float[] {y})));
        assertThat(r[0]).isEqualTo(separate);
    }

    @Test
    void cpuPropagatesNanAndInfinityAsIeeeSays() throws Exception {
        float[] a = {Float.NaN, Float.POSITIVE_INFINITY, Float.MAX_VALUE, -0.0f};
        float[] b = {1f, Float.NEGATIVE_INFINITY, Float.MAX_VALUE, 0.0f};
        float[] s = ComputeRequest.toFloats(new CpuBackend().execute(ComputeRequest.vectorAdd(a, b)));
        assertThat(s[0]).isNaN();
        assertThat(s[1]).isNaN();
        assertThat(s[2]).isEqualTo(Float.POSITIVE_INFINITY);
        assertThat(Float.floatToRawIntBits(s[3])).isEqualTo(Float.floatToRawIntBits(0.0f));
    }

    // ------------------------------------------------------------------ CUDA

    /** What CudaBackend passes to each kernel, in order. */
    static final Map<String, List<String>> LAUNCHED = new LinkedHashMap<>();

    static {
        LAUNCHED.put("vector_add", List.of("u64", "u64", "u64", "u32"));
        LAUNCHED.put("scale", List.of("f32", "u64", "u64", "u32"));
        LAUNCHED.put("saxpy", List.of("f32", "u64", "u64", "u64", "u32"));
        LAUNCHED.put("echo_copy", List.of("u64", "u64", "u32"));
        LAUNCHED.put("crc32", List.of("u64", "u64", "u32"));
    }

    /** Runs everywhere: the PTX shipped in the jar declares every kernel with the parameters the backend sends. */
    @Test
    void thePtxResourceDeclaresEveryKernelWithTheParametersTheBackendPasses() throws Exception {
        String ptx;
        try (InputStream in = CudaBackend.class.getResourceAsStream("vgpu_kernels.ptx")) {
            assertThat(in).as("PTX resource in the jar").isNotNull();
            ptx = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
        assertThat(ptx)
                .containsPattern("(?m)^\\.version \\d+\\.\\d+$")
                .containsPattern("(?m)^\\.target sm_\\d+$")
                .contains(".address_size 64");
        Map<String, List<String>> declared = new LinkedHashMap<>();
        Matcher entry =
                Pattern.compile("\\.visible \\.entry (\\w+)\\(([^)]*)\\)").matcher(ptx);
        while (entry.find()) {
            List<String> types = new ArrayList<>();
            Matcher param = Pattern.compile("\\.param \\.(\\w+) ").matcher(entry.group(2));
            while (param.find()) {
                types.add(param.group(1));
            }
            declared.put(entry.group(1), types);
        }
        assertThat(declared).isEqualTo(LAUNCHED);
        // each kernel body is closed and returns; saxpy stays unfused (mul.rn then add.rn, no fma)
        assertThat(ptx.split("\\.visible \\.entry")).hasSize(LAUNCHED.size() + 1);
        String saxpy = ptx.substring(ptx.indexOf(".entry saxpy"), ptx.indexOf(".entry echo_copy"));
        assertThat(saxpy).contains("mul.rn.f32", "add.rn.f32").doesNotContain("fma");
        // the CUDA source names the same kernels
        String cu = Files.readString(Path.of("src", "main", "cuda", "vgpu_kernels.cu"));
        for (String k : LAUNCHED.keySet()) {
            assertThat(cu).contains("__global__ void " + k + "(");
        }
    }

    @Test
    void withoutAGpuCudaFailsToOpenWithTheReasonAndAutoFallsBackToCpu() throws Exception {
        Optional<String> reason = noGpu();
        assumeTrue(reason.isPresent(), "a CUDA GPU answers on this machine");
        try {
            CudaBackend.open().close();
            throw new AssertionError("CudaBackend.open() succeeded without a GPU");
        } catch (BackendException e) {
            assertThat(e.getMessage()).isEqualTo("CUDA backend unavailable: " + reason.get());
        }
        List<String> log = new ArrayList<>();
        try (Backend b = Backends.open(BackendChoice.AUTO, log::add)) {
            assertThat(b.name()).isEqualTo("cpu");
        }
        assertThat(log).containsExactly("backend cpu (auto: " + reason.get() + ")");
    }

    /** CPU and CUDA give byte-identical results for the same inputs: every opcode, edge sizes, random data. */
    @Test
    void cpuAndCudaGiveIdenticalResults() throws Exception {
        Optional<String> reason = noGpu();
        assumeTrue(reason.isEmpty(), () -> NO_GPU + reason.orElse(""));
        CpuBackend cpu = new CpuBackend();
        try (CudaBackend cuda = CudaBackend.open()) {
            assertThat(cuda.name()).startsWith("cuda (");
            Random rnd = new Random(2024);
            for (int round = 0; round < 50; round++) {
                for (ComputeRequest r : sampleRequests(rnd)) {
                    assertThat(cuda.execute(r)).as("%s (round %d)", r, round).isEqualTo(cpu.execute(r));
                }
            }
        }
    }

    @Test
    void autoPicksCudaWhereAGpuAnswers() throws Exception {
        Optional<String> reason = noGpu();
        assumeTrue(reason.isEmpty(), () -> NO_GPU + reason.orElse(""));
        List<String> log = new ArrayList<>();
        try (Backend b = Backends.open(BackendChoice.AUTO, log::add)) {
            assertThat(b.name()).startsWith("cuda (");
        }
        assertThat(log.get(0)).startsWith("backend cuda (").endsWith("(auto: a CUDA device answered)");
    }

    static List<ComputeRequest> sampleRequests(Random rnd) {
        List<ComputeRequest> out = new ArrayList<>();
        for (int n : new int[] {0, 1, 2, 31, 32, 33, 100, VECTOR_ADD_MAX_ELEMENTS}) {
            float[] a = randomFloats(rnd, n);
            float[] b = randomFloats(rnd, n);
            float alpha = (float) rnd.nextGaussian() * 10;
            out.add(ComputeRequest.vectorAdd(a, b));
            out.add(ComputeRequest.scale(alpha, a));
            int m = Math.min(n, SAXPY_MAX);
            out.add(ComputeRequest.saxpy(alpha, java.util.Arrays.copyOf(a, m), java.util.Arrays.copyOf(b, m)));
        }
        for (int n : new int[] {0, 1, 127, 128, 129, 255, 1016}) {
            byte[] data = new byte[n];
            rnd.nextBytes(data);
            out.add(ComputeRequest.echo(data));
            out.add(ComputeRequest.checksum(data));
        }
        // values where rounding and special cases matter
        float[] special = {
            Float.NaN,
            Float.POSITIVE_INFINITY,
            Float.NEGATIVE_INFINITY,
            Float.MIN_VALUE,
            Float.MAX_VALUE,
            -0.0f,
            1.0f + 0x1p-12f,
            1e-40f
        };
        out.add(ComputeRequest.vectorAdd(special, special.clone()));
        out.add(ComputeRequest.saxpy(1.0f + 0x1p-12f, special, special.clone()));
        return out;
    }

    static float[] randomFloats(Random rnd, int n) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(8) - 4));
        }
        return f;
    }
}
