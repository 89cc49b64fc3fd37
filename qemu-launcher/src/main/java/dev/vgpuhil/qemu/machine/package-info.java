/**
 * QEMU machines for tests, without JUnit: {@link dev.vgpuhil.qemu.machine.QemuMachine} (configured by an immutable
 * {@link dev.vgpuhil.qemu.machine.MachineSpec}, made with {@link dev.vgpuhil.qemu.machine.QemuMachine#builder()}; its
 * arguments by {@link dev.vgpuhil.qemu.machine.QemuCommandLine}, its end by
 * {@link dev.vgpuhil.qemu.machine.ShutdownEscalation}, its readiness a
 * {@link dev.vgpuhil.qemu.machine.WaitStrategy}), its {@link dev.vgpuhil.qemu.machine.QmpClient},
 * {@link dev.vgpuhil.qemu.machine.SerialConsole} and {@link dev.vgpuhil.qemu.machine.Waits}; the accelerator
 * decision ({@link dev.vgpuhil.qemu.machine.KvmProbe}); vgpu-stub device specs
 * ({@link dev.vgpuhil.qemu.machine.VgpuStubDevice}).
 *
 * <p>Failures are {@link dev.vgpuhil.qemu.machine.QemuMachineException}s with self-contained messages:
 * {@link dev.vgpuhil.qemu.machine.MachineBootException} (start failed; includes
 * {@link dev.vgpuhil.qemu.machine.AcceleratorUnavailableException}), {@link
 * dev.vgpuhil.qemu.machine.WaitTimeoutException}, {@link dev.vgpuhil.qemu.machine.MachineDiedException},
 * {@link dev.vgpuhil.qemu.machine.QmpException}.
 *
 * <p>System properties: {@code vgpu.accel=tcg|kvm} (force the AUTO decision), {@code vgpu.kvm.probeTimeoutMs}
 * (default 3000), {@code vgpu.runs.dir} (run directory base, default {@code ./target/vgpu-runs}),
 * {@code vgpu.cleanup=always|on_success|never} (run directories, {@link dev.vgpuhil.qemu.machine.CleanupMode};
 * default on_success: failed runs keep theirs), and those of {@link dev.vgpuhil.qemu.QemuBinary}
 * ({@code vgpu.qemu}).
 */
package dev.vgpuhil.qemu.machine;
