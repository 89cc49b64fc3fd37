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
 * <p>Settings ({@link dev.vgpuhil.common.Setting}): {@code vgpu.accel}, {@code vgpu.kvm.probeTimeout}, {@code
 * vgpu.runs.dir}, {@code vgpu.cleanup} ({@link dev.vgpuhil.qemu.machine.CleanupMode}), and {@code vgpu.qemu} for
 * {@link dev.vgpuhil.qemu.QemuBinary}.
 */
package dev.vgpuhil.qemu.machine;
