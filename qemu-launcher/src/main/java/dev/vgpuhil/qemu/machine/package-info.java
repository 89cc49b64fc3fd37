/**
 * QEMU machines for tests, without JUnit: {@link dev.vgpuhil.qemu.machine.QemuMachine} (built with
 * {@link dev.vgpuhil.qemu.machine.QemuMachine#builder()}), its {@link dev.vgpuhil.qemu.machine.QmpClient},
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
 * vgpu.runs.dir}, {@code vgpu.keepRunDirs}, and {@code vgpu.qemu} for {@link dev.vgpuhil.qemu.QemuBinary}.
 */
package dev.vgpuhil.qemu.machine;
