/*
 * vgpu_compat.h - every QEMU API difference the vgpu-stub hosting meets,
 * in one place.  vgpu-stub.c has no QEMU_VERSION test of its own; porting
 * the device to another QEMU (e.g. XCP-ng's 4.2.1) is a reading of this file.
 *
 * Each block names the QEMU release that changed the API.  Compiled here
 * warning-free against Debian's 5.2, 7.2 and 10.0 sources (7.2 built and
 * run by the device tests); the blocks for releases before 5.2 follow those
 * releases' headers but are not compiled here (4.2 cannot be fetched).
 *
 * Not in C: QEMU before 5.2 builds with Makefile.objs instead of meson;
 * qemu-integration/integrate.sh writes the right hookup for either.
 *
 * Include after "qemu/osdep.h" (which pulls in config-host.h and with it
 * QEMU_VERSION_MAJOR/MINOR).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VGPU_COMPAT_H
#define VGPU_COMPAT_H

#include "qemu/option.h"
#include "qapi/error.h"
#include "qom/object.h"
#include "hw/qdev-properties.h"
#include "hw/pci/pci.h"

#define VGPU_QEMU_AT_LEAST(major, minor) \
    (QEMU_VERSION_MAJOR > (major) || \
     (QEMU_VERSION_MAJOR == (major) && QEMU_VERSION_MINOR >= (minor)))

/* 8.0 moved struct PCIDevice (needed for PCI_DEVICE() users) to its own header. */
#if VGPU_QEMU_AT_LEAST(8, 0)
#include "hw/pci/pci_device.h"
#endif

/* 6.0 split the system-emulation properties (DEFINE_PROP_CHR) out of qdev-properties.h. */
#if VGPU_QEMU_AT_LEAST(6, 0)
#include "hw/qdev-properties-system.h"
#endif

/*
 * 5.2 added the DECLARE_*_CHECKER macros; before, a device wrote its cast
 * with OBJECT_CHECK.  Same static inline function either way.
 */
#if VGPU_QEMU_AT_LEAST(5, 2)
#define VGPU_DECLARE_INSTANCE_CHECKER(InstanceType, NAME, TYPENAME) \
    DECLARE_INSTANCE_CHECKER(InstanceType, NAME, TYPENAME)
#else
#define VGPU_DECLARE_INSTANCE_CHECKER(InstanceType, NAME, TYPENAME) \
    static inline G_GNUC_UNUSED InstanceType *NAME(const void *obj) \
    { return OBJECT_CHECK(InstanceType, obj, TYPENAME); }
#endif

/* QOM's class_init took "void *data" until 10.1, "const void *data" since. */
#if VGPU_QEMU_AT_LEAST(10, 1)
#define VGPU_CLASS_DATA const void
#else
#define VGPU_CLASS_DATA void
#endif

/* 5.0 added device_class_set_props(); before, a device set dc->props. */
#if VGPU_QEMU_AT_LEAST(5, 0)
#define vgpu_compat_set_props(dc, props) device_class_set_props((dc), (props))
#else
#define vgpu_compat_set_props(dc, props) ((dc)->props = (props))
#endif

/*
 * 10.0 constified Property arrays (Richard Henderson's "Constify all
 * Property" series, Dec 2024); a non-const array is what older releases
 * take, so the list is const from 10.0 only.
 */
#if VGPU_QEMU_AT_LEAST(10, 0)
#define VGPU_PROPS_CONST const
#else
#define VGPU_PROPS_CONST
#endif

/*
 * 10.0 dropped the DEFINE_PROP_END_OF_LIST() terminator (and checks, for a
 * const array, that there is none); until then every list ends with it.
 */
#if VGPU_QEMU_AT_LEAST(10, 0)
#define VGPU_PROP_END_OF_LIST_ENTRY
#else
#define VGPU_PROP_END_OF_LIST_ENTRY DEFINE_PROP_END_OF_LIST(),
#endif

/*
 * Reset: a plain dc->reset until 9.2, which added
 * device_class_set_legacy_reset() and renamed the field legacy_reset
 * (Peter Maydell, Sept 2024, after 9.1 was cut).  3-phase Resettable is
 * the new way; a legacy reset keeps one function for every release.
 */
#if VGPU_QEMU_AT_LEAST(9, 2)
#define vgpu_compat_set_reset(dc, fn) device_class_set_legacy_reset((dc), (fn))
#else
#define vgpu_compat_set_reset(dc, fn) ((dc)->reset = (fn))
#endif

/* 5.0 gave chardev event handlers the QEMUChrEvent type (before: int). */
#if VGPU_QEMU_AT_LEAST(5, 0)
typedef QEMUChrEvent VGPUChrEvent;
#else
typedef int VGPUChrEvent;
#endif

/*
 * 6.1 typed the qemu_chr_fe_add_watch() callback as FEWatchFunc, whose first
 * argument is a poisoned "void *" (chardev: mark explicitly first argument as
 * poisoned); before, it was a GIOFunc taking a GIOChannel *.
 */
#if VGPU_QEMU_AT_LEAST(6, 1)
typedef void VGPUWatchChannel;
#else
typedef GIOChannel VGPUWatchChannel;
#endif

/*
 * The device's own client chardev retries the mediator socket every second.
 * 9.2 replaced the "reconnect" option (seconds) by "reconnect-ms" (and 10.0
 * removed the old one).
 */
#if VGPU_QEMU_AT_LEAST(9, 2)
#define VGPU_RECONNECT_OPTION "reconnect-ms"
#define VGPU_RECONNECT_VALUE  "1000"
#else
#define VGPU_RECONNECT_OPTION "reconnect"
#define VGPU_RECONNECT_VALUE  "1"
#endif

/*
 * 5.1 (the Error ** cleanup) made qemu_opt_set() return bool and dropped the
 * Error ** argument of object_class_property_set_description().
 */
#if VGPU_QEMU_AT_LEAST(5, 1)
#define vgpu_compat_opt_set(opts, name, value, errp) \
    qemu_opt_set((opts), (name), (value), (errp))
#define vgpu_compat_class_prop_desc(klass, name, desc) \
    object_class_property_set_description((klass), (name), (desc))
#else
static inline bool vgpu_compat_opt_set(QemuOpts *opts, const char *name,
                                       const char *value, Error **errp)
{
    Error *err = NULL;

    qemu_opt_set(opts, name, value, &err);
    if (err) {
        error_propagate(errp, err);
        return false;
    }
    return true;
}
#define vgpu_compat_class_prop_desc(klass, name, desc) \
    object_class_property_set_description((klass), (name), (desc), \
                                          &error_abort)
#endif

#endif /* VGPU_COMPAT_H */
