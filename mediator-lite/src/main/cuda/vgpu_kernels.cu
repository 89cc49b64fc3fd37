// vgpu_kernels.cu - the CUDA kernels of mediator-lite's CUDA backend.
// The backend loads PTX, not this file. Where nvcc exists, mediator-lite/pom.xml (profile nvcc-ptx) compiles it with
//   nvcc -ptx -arch=${nvcc.arch} -fmad=false -o vgpu_kernels.ptx vgpu_kernels.cu   (nvcc.arch default sm_75)
// into the jar; elsewhere the hand-written src/main/resources/dev/vgpuhil/mediator/backend/vgpu_kernels.ptx is used.
// (-fmad=false keeps saxpy as mul then add, bit-identical to the CPU backend).

extern "C" __global__ void vector_add(const float *a, const float *b, float *out, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i];
}

extern "C" __global__ void scale(float alpha, const float *x, float *out, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = alpha * x[i];
}

extern "C" __global__ void saxpy(float alpha, const float *x, const float *y, float *out, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __fadd_rn(__fmul_rn(alpha, x[i]), y[i]);
}

extern "C" __global__ void echo_copy(const unsigned char *in, unsigned char *out, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[i];
}

// CRC-32 (IEEE, reflected, poly 0xEDB88320) by one thread: at most 1016 bytes, so serial is fine.
extern "C" __global__ void crc32(const unsigned char *in, unsigned *out, unsigned n) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    unsigned crc = 0xFFFFFFFFu;
    for (unsigned i = 0; i < n; i++) {
        crc ^= in[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xEDB88320u & -(crc & 1u));
    }
    *out = ~crc;
}
