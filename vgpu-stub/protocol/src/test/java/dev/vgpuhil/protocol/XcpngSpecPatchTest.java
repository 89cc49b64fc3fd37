package dev.vgpuhil.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * vgpu-stub/xcpng: the guide's XCP-ng RPM flow. rpmbuild is not available here, so this proves the parts that can
 * be proved without it: patch-spec.sh on sample specs (what it adds, idempotence, clear refusals), the %prep block
 * it adds actually integrating the device into QEMU-shaped source trees (meson and pre-5.2 Makefile.objs layouts),
 * and build_enhanced_qemu.sh driving rpm/rpmbuild/yum (replaced by recording fakes on PATH) in the right order.
 */
@Tag("xcpng")
@DisplayName("XCP-ng RPM flow: patch-spec.sh and build_enhanced_qemu.sh")
class XcpngSpecPatchTest {
    static final Path XCPNG = SourceTree.path("vgpu-stub", "xcpng");
    static final Path PATCH_SPEC = XCPNG.resolve("patch-spec.sh");
    static final Path BUILD = XCPNG.resolve("build_enhanced_qemu.sh");
    static final Path TESTDATA = XCPNG.resolve("testdata");
    static final Path INTEGRATE = SourceTree.path("vgpu-stub", "qemu-integration", "integrate.sh");
    static final Path DEVICE_C = SourceTree.path("vgpu-stub", "vgpu-stub.c");
    static final Path HEADER = SourceTree.protocolHeader();
    static final Path COMPAT = SourceTree.path("vgpu-stub", "vgpu_compat.h");
    static final Path CORE_H = SourceTree.path("vgpu-stub", "core", "vgpu_core.h");
    static final Path CORE_C = SourceTree.path("vgpu-stub", "core", "vgpu_core.c");
    static final List<String> SOURCE_LINES = List.of(
            "Source9000: vgpu-stub.c",
            "Source9001: vgpu_protocol.h",
            "Source9002: vgpu-integrate.sh",
            "Source9003: vgpu_compat.h",
            "Source9004: vgpu_core.h",
            "Source9005: vgpu_core.c");

    record Result(int exit, String out, String err) {}

    static Result run(Map<String, String> env, Path dir, String... cmd) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().putAll(env);
        Path out = Files.createTempFile("xcpng-out", ".txt");
        Path err = Files.createTempFile("xcpng-err", ".txt");
        try {
            Process p =
                    pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("timed out: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    static Result patchSpec(Path spec) throws Exception {
        return run(Map.of(), spec.getParent(), "bash", PATCH_SPEC.toString(), spec.toString());
    }

    static Path copySample(Path dir, String name) throws IOException {
        return Files.copy(TESTDATA.resolve(name), dir.resolve(name));
    }

    static List<String> lines(Path p) throws IOException {
        return Files.readAllLines(p, StandardCharsets.UTF_8);
    }

    static int indexOfMatch(List<String> lines, String regex) {
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).matches(regex)) {
                return i;
            }
        }
        return -1;
    }

    static int lastIndexOfMatch(List<String> lines, String regex) {
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (lines.get(i).matches(regex)) {
                return i;
            }
        }
        return -1;
    }

    @Test
    @DisplayName(
            "XCP-ng-shaped spec: sources declared after the last Source line, integrate.sh at the end of %prep with the spec's target, Release suffixed; nothing else changes")
    void patchesXcpngShapedSpec(@TempDir Path tmp) throws Exception {
        Path spec = copySample(tmp, "qemu.spec");
        List<String> original = lines(spec);
        Result r = patchSpec(spec);
        assertThat(r.exit()).as(r.err()).isZero();
        List<String> patched = lines(spec);

        int lastSource = lastIndexOfMatch(patched, "Source[0-2]:.*");
        assertThat(patched.subList(lastSource + 1, lastSource + 2))
                .containsExactly("# vgpu-stub (vgpu-hil): device sources, added by patch-spec.sh");
        assertThat(patched.subList(lastSource + 2, lastSource + 8)).containsExactlyElementsOf(SOURCE_LINES);
        assertThat(lastSource + 7).isLessThan(indexOfMatch(patched, "%description"));

        int prep = patched.indexOf("%prep");
        int build = patched.indexOf("%build");
        List<String> prepSection = patched.subList(prep, build);
        int autosetup = prepSection.indexOf("%autosetup -p1");
        int tar = prepSection.indexOf("tar xzf %{SOURCE2}");
        int call = indexOfMatch(prepSection, "bash %\\{SOURCE9002\\} .*");
        assertThat(autosetup).isNotNegative();
        assertThat(call).as("integration after unpacking and patching").isGreaterThan(Math.max(autosetup, tar));
        assertThat(prepSection.get(call))
                .isEqualTo(
                        "bash %{SOURCE9002} --enable-for i386-softmmu \"%{_builddir}/%{?buildsubdir}\" \"%{_sourcedir}\"");
        assertThat(prepSection.get(call - 1)).startsWith("# vgpu-stub (vgpu-hil) begin");
        assertThat(prepSection.get(call + 1)).isEqualTo("# vgpu-stub (vgpu-hil) end");
        assertThat(patched.get(build - 1))
                .as("the blank line before %build stays before %build")
                .isEmpty();

        assertThat(patched).contains("Release: %{?xsrel}.2%{?dist}.vgpu");
        List<String> added = new ArrayList<>(List.of(
                "# vgpu-stub (vgpu-hil): device sources, added by patch-spec.sh",
                prepSection.get(call - 1),
                prepSection.get(call),
                prepSection.get(call + 1)));
        added.addAll(SOURCE_LINES);
        List<String> rest = new ArrayList<>(patched);
        rest.removeAll(added);
        rest.removeIf(l -> l.startsWith("Release:"));
        assertThat(patched.size() - rest.size())
                .as("10 lines added, Release changed")
                .isEqualTo(11);
        List<String> originalRest = new ArrayList<>(original);
        originalRest.removeIf(l -> l.startsWith("Release:"));
        assertThat(rest).as("every other line as it was, in order").containsExactlyElementsOf(originalRest);
        assertThat(r.err()).contains("patched");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qemu.spec", "qemu-setup-patch.spec"})
    @DisplayName("idempotent: a second and third run change nothing, byte for byte")
    void idempotent(String sample, @TempDir Path tmp) throws Exception {
        Path spec = copySample(tmp, sample);
        assertThat(patchSpec(spec).exit()).isZero();
        byte[] once = Files.readAllBytes(spec);
        Result second = patchSpec(spec);
        assertThat(second.exit()).isZero();
        assertThat(second.err()).contains("already patched");
        assertThat(Files.readAllBytes(spec)).isEqualTo(once);
        assertThat(patchSpec(spec).exit()).isZero();
        assertThat(Files.readAllBytes(spec)).isEqualTo(once);
        assertThat(new String(once, StandardCharsets.UTF_8).split("Source9001: vgpu_protocol.h", -1))
                .hasSize(2);
        try (var files = Files.list(tmp)) {
            assertThat(files.map(p -> p.getFileName().toString()))
                    .as("no temp files left")
                    .containsExactly(sample);
        }
    }

    @Test
    @DisplayName(
            "%setup + %patchN spec whose %prep runs straight into %build: block goes between the last %patch and %build")
    void setupAndPatchStyle(@TempDir Path tmp) throws Exception {
        Path spec = copySample(tmp, "qemu-setup-patch.spec");
        assertThat(patchSpec(spec).exit()).isZero();
        List<String> l = lines(spec);
        int build = l.indexOf("%build");
        assertThat(l.get(build - 1)).isEqualTo("# vgpu-stub (vgpu-hil) end");
        assertThat(l.get(build - 2))
                .isEqualTo(
                        "bash %{SOURCE9002} --enable-for x86_64-softmmu \"%{_builddir}/%{?buildsubdir}\" \"%{_sourcedir}\"");
        assertThat(l.get(build - 4)).isEqualTo("%patch0002 -p1");
        assertThat(l).contains("Release: 3.vgpu", "Source9002: vgpu-integrate.sh");
        assertThat(l.indexOf("Source9000: vgpu-stub.c"))
                .isEqualTo(l.indexOf("Source: https://download.qemu.org/qemu-%{version}.tar.xz") + 2);
    }

    @Test
    @DisplayName("a spec without %prep is refused with a clear message and left untouched")
    void refusesSpecWithoutPrep(@TempDir Path tmp) throws Exception {
        Path spec = copySample(tmp, "no-prep.spec");
        byte[] before = Files.readAllBytes(spec);
        Result r = patchSpec(spec);
        assertThat(r.exit()).isEqualTo(3);
        assertThat(r.err()).contains("no %prep section").contains(spec.toString());
        assertThat(Files.readAllBytes(spec)).isEqualTo(before);
        try (var files = Files.list(tmp)) {
            assertThat(files.count()).as("no temp files left").isEqualTo(1);
        }
    }

    @Test
    @DisplayName("other refusals: no spec file, a begin marker without its end, a spec already using Source9000")
    void otherRefusals(@TempDir Path tmp) throws Exception {
        Result missing = run(
                Map.of(),
                tmp,
                "bash",
                PATCH_SPEC.toString(),
                tmp.resolve("nope.spec").toString());
        assertThat(missing.exit()).isEqualTo(2);
        assertThat(missing.err()).contains("no such readable file");

        Path broken = copySample(tmp, "qemu.spec");
        assertThat(patchSpec(broken).exit()).isZero();
        List<String> l = new ArrayList<>(lines(broken));
        l.remove("# vgpu-stub (vgpu-hil) end");
        Files.write(broken, l);
        byte[] before = Files.readAllBytes(broken);
        Result r = patchSpec(broken);
        assertThat(r.exit()).isEqualTo(3);
        assertThat(r.err()).contains("without its");
        assertThat(Files.readAllBytes(broken)).isEqualTo(before);

        Path clash = tmp.resolve("clash.spec");
        Files.writeString(
                clash,
                Files.readString(TESTDATA.resolve("qemu.spec"))
                        .replace(
                                "Source1: qemu_trad_image.py",
                                "Source1: qemu_trad_image.py\nSource9000: other.tar.gz"));
        Result c = patchSpec(clash);
        assertThat(c.exit()).isEqualTo(3);
        assertThat(c.err()).contains("Source9000");
    }

    /** The %prep block of a patched spec with the macros rpmbuild would expand, run on a fake source tree. */
    static Result runPrepBlock(Path spec, Path tree, Path sourcedir) throws Exception {
        List<String> l = lines(spec);
        int begin = indexOfMatch(l, "# vgpu-stub \\(vgpu-hil\\) begin.*");
        int end = l.indexOf("# vgpu-stub (vgpu-hil) end");
        assertThat(begin).isNotNegative();
        assertThat(end).isGreaterThan(begin);
        StringBuilder script = new StringBuilder("set -e\n");
        for (String line : l.subList(begin, end + 1)) {
            script.append(line.replace(
                                    "%{SOURCE9002}",
                                    sourcedir.resolve("vgpu-integrate.sh").toString())
                            .replace("%{_builddir}/%{?buildsubdir}", tree.toString())
                            .replace("%{_sourcedir}", sourcedir.toString()))
                    .append('\n');
        }
        assertThat(script.toString()).doesNotContain("%{");
        return run(Map.of(), tree, "bash", "-c", script.toString());
    }

    static Path sourcesDir(Path tmp) throws IOException {
        Path sources = Files.createDirectories(tmp.resolve("SOURCES"));
        Files.copy(DEVICE_C, sources.resolve("vgpu-stub.c"));
        Files.copy(HEADER, sources.resolve("vgpu_protocol.h"));
        Files.copy(INTEGRATE, sources.resolve("vgpu-integrate.sh"));
        Files.copy(COMPAT, sources.resolve("vgpu_compat.h"));
        Files.copy(CORE_H, sources.resolve("vgpu_core.h"));
        Files.copy(CORE_C, sources.resolve("vgpu_core.c"));
        return sources;
    }

    static long count(Path file, String needle) throws IOException {
        return Files.readAllLines(file).stream().filter(l -> l.contains(needle)).count();
    }

    @Test
    @DisplayName(
            "the %prep block integrates the device into a meson-era tree (QEMU >= 5.2): hw/misc files, meson line, Kconfig, CONFIG_VGPU_STUB=y; twice = once")
    void prepBlockOnMesonTree(@TempDir Path tmp) throws Exception {
        Path spec = copySample(tmp, "qemu.spec");
        assertThat(patchSpec(spec).exit()).isZero();
        Path tree = Files.createDirectories(tmp.resolve("qemu-7.2.0"));
        Path misc = Files.createDirectories(tree.resolve("hw/misc"));
        Files.writeString(misc.resolve("meson.build"), "system_ss.add(when: 'CONFIG_EDU', if_true: files('edu.c'))\n");
        Files.writeString(misc.resolve("Kconfig"), "config EDU\n    bool\n    default y if TEST_DEVICES\n");
        Path mak = Files.createDirectories(tree.resolve("configs/devices/i386-softmmu"))
                .resolve("default.mak");
        Files.writeString(mak, "# Default configuration for i386-softmmu\n");
        Path sources = sourcesDir(tmp);
        for (int i = 0; i < 2; i++) {
            Result r = runPrepBlock(spec, tree, sources);
            assertThat(r.exit()).as(r.err()).isZero();
        }
        assertThat(misc.resolve("vgpu-stub.c")).hasSameBinaryContentAs(DEVICE_C);
        assertThat(misc.resolve("vgpu_protocol.h")).hasSameBinaryContentAs(HEADER);
        assertThat(misc.resolve("vgpu_compat.h")).hasSameBinaryContentAs(COMPAT);
        assertThat(misc.resolve("core/vgpu_core.h")).hasSameBinaryContentAs(CORE_H);
        assertThat(misc.resolve("core/vgpu_core.c")).hasSameBinaryContentAs(CORE_C);
        assertThat(misc.resolve("core/vgpu_protocol.h")).hasSameBinaryContentAs(HEADER);
        assertThat(count(
                        misc.resolve("meson.build"),
                        "system_ss.add(when: 'CONFIG_VGPU_STUB', "
                                + "if_true: files('vgpu-stub.c', 'core/vgpu_core.c'))"))
                .isEqualTo(1);
        assertThat(count(misc.resolve("Kconfig"), "config VGPU_STUB")).isEqualTo(1);
        assertThat(Files.readString(misc.resolve("Kconfig"))).contains("depends on PCI && MSI_NONBROKEN");
        assertThat(count(mak, "CONFIG_VGPU_STUB=y")).isEqualTo(1);
    }

    @Test
    @DisplayName(
            "the %prep block integrates the device into a QEMU 4.2 tree (XCP-ng 8.x): Makefile.objs, Kconfig, default-configs/i386-softmmu.mak")
    void prepBlockOnMakefileTree(@TempDir Path tmp) throws Exception {
        Path spec = copySample(tmp, "qemu.spec");
        assertThat(patchSpec(spec).exit()).isZero();
        Path tree = Files.createDirectories(tmp.resolve("qemu-4.2.1"));
        Path misc = Files.createDirectories(tree.resolve("hw/misc"));
        Files.writeString(misc.resolve("Makefile.objs"), "common-obj-$(CONFIG_EDU) += edu.o\n");
        Files.writeString(misc.resolve("Kconfig"), "config EDU\n    bool\n");
        Path mak = Files.createDirectories(tree.resolve("default-configs")).resolve("i386-softmmu.mak");
        Files.writeString(mak, "# Default configuration for i386-softmmu\n");
        Path sources = sourcesDir(tmp);
        for (int i = 0; i < 2; i++) {
            Result r = runPrepBlock(spec, tree, sources);
            assertThat(r.exit()).as(r.err()).isZero();
        }
        assertThat(misc.resolve("vgpu-stub.c")).hasSameBinaryContentAs(DEVICE_C);
        assertThat(misc.resolve("core/vgpu_core.c")).hasSameBinaryContentAs(CORE_C);
        assertThat(count(
                        misc.resolve("Makefile.objs"),
                        "common-obj-$(CONFIG_VGPU_STUB) += vgpu-stub.o core/vgpu_core.o"))
                .isEqualTo(1);
        assertThat(count(misc.resolve("Kconfig"), "config VGPU_STUB")).isEqualTo(1);
        assertThat(count(mak, "CONFIG_VGPU_STUB=y")).isEqualTo(1);
    }

    @Test
    @DisplayName("the %prep block fails the build clearly on a tree without the spec's target config")
    void prepBlockFailsOnUnknownTarget(@TempDir Path tmp) throws Exception {
        Path spec = copySample(tmp, "qemu.spec");
        assertThat(patchSpec(spec).exit()).isZero();
        Path tree = Files.createDirectories(tmp.resolve("qemu-x"));
        Path misc = Files.createDirectories(tree.resolve("hw/misc"));
        Files.writeString(misc.resolve("meson.build"), "");
        Files.writeString(misc.resolve("Kconfig"), "");
        Result r = runPrepBlock(spec, tree, sourcesDir(tmp));
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("no default device config for target i386-softmmu");
    }

    static Path fakeTools(Path tmp) throws IOException {
        Path bin = Files.createDirectories(tmp.resolve("fakebin"));
        Path log = tmp.resolve("calls.log");
        String record = "echo \"$(basename \"$0\") $*\" >> " + log + "\n";
        write(bin.resolve("yum-builddep"), "#!/bin/sh\n" + record);
        write(
                bin.resolve("rpm"),
                "#!/bin/sh\n" + record + "if [ \"$1\" = -q ]; then echo qemu-4.2.1-4.6.4.2.xcpng8.2.x86_64; fi\n");
        // rpmbuild: records, then "builds" an RPM named after the spec's Name/Version/Release like rpmbuild would
        write(bin.resolve("rpmbuild"), "#!/bin/bash\n" + record + """
                top=""; spec=""
                while [ $# -gt 0 ]; do
                  case "$1" in --define) top=${2#_topdir }; shift 2 ;; -*) shift ;; *) spec=$1; shift ;; esac
                done
                grep -q '^Source9001: vgpu_protocol.h' "$spec" || { echo "spec not patched" >&2; exit 1; }
                rel=$(sed -n 's/^Release:[[:space:]]*//p' "$spec" | sed 's/%{?xsrel}/4.6.4/; s/%{?dist}/.xcpng8.2/')
                mkdir -p "$top/RPMS/x86_64"
                touch "$top/RPMS/x86_64/qemu-4.2.1-$rel.x86_64.rpm" "$top/RPMS/x86_64/qemu-debuginfo-4.2.1-$rel.x86_64.rpm"
                """);
        return bin;
    }

    static void write(Path p, String text) throws IOException {
        Files.writeString(p, text);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    @Test
    @DisplayName(
            "build_enhanced_qemu.sh: copies the six sources, patches the spec, yum-builddep, rpmbuild -bb, rpm -Uvh of the built package (fakes for yum/rpm/rpmbuild)")
    void buildScriptFlow(@TempDir Path tmp) throws Exception {
        Path bin = fakeTools(tmp);
        Path top = tmp.resolve("rpmbuild");
        Path spec = copySample(tmp, "qemu.spec");
        Result r = run(
                Map.of("PATH", bin + ":" + System.getenv("PATH")),
                tmp,
                "bash",
                BUILD.toString(),
                "--spec",
                spec.toString(),
                "--topdir",
                top.toString());
        assertThat(r.exit()).as(r.err()).isZero();
        assertThat(top.resolve("SOURCES/vgpu-stub.c")).hasSameBinaryContentAs(DEVICE_C);
        assertThat(top.resolve("SOURCES/vgpu_protocol.h")).hasSameBinaryContentAs(HEADER);
        assertThat(top.resolve("SOURCES/vgpu-integrate.sh")).hasSameBinaryContentAs(INTEGRATE);
        assertThat(top.resolve("SOURCES/vgpu_compat.h")).hasSameBinaryContentAs(COMPAT);
        assertThat(top.resolve("SOURCES/vgpu_core.h")).hasSameBinaryContentAs(CORE_H);
        assertThat(top.resolve("SOURCES/vgpu_core.c")).hasSameBinaryContentAs(CORE_C);
        Path patched = top.resolve("SPECS/qemu.spec");
        assertThat(Files.readString(patched)).contains("Source9001: vgpu_protocol.h", "bash %{SOURCE9002}");
        assertThat(Files.readString(spec))
                .as("the input spec itself is not modified")
                .isEqualTo(Files.readString(TESTDATA.resolve("qemu.spec")));
        List<String> calls = lines(tmp.resolve("calls.log"));
        String rpmFile = top.resolve("RPMS/x86_64/qemu-4.2.1-4.6.4.2.xcpng8.2.vgpu.x86_64.rpm")
                .toString();
        assertThat(calls)
                .containsExactly(
                        "yum-builddep -y " + patched,
                        "rpmbuild -bb --define _topdir " + top + " " + patched,
                        "rpm -q qemu",
                        "rpm -Uvh --replacepkgs " + rpmFile);
        assertThat(r.out().strip()).as("stdout lists the built RPM").isEqualTo(rpmFile);
        assertThat(Files.readString(top.resolve("previous-qemu.txt"))).contains("qemu-4.2.1-4.6.4.2.xcpng8.2");

        Result again = run(
                Map.of("PATH", bin + ":" + System.getenv("PATH")),
                tmp,
                "bash",
                BUILD.toString(),
                "--spec",
                patched.toString(),
                "--topdir",
                top.toString(),
                "--no-install",
                "--no-builddep");
        assertThat(again.exit()).as(again.err()).isZero();
        assertThat(again.err()).contains("already patched");
    }

    @Test
    @DisplayName("build_enhanced_qemu.sh stops before rpmbuild when the spec cannot be patched")
    void buildScriptStopsOnUnpatchableSpec(@TempDir Path tmp) throws Exception {
        Path bin = fakeTools(tmp);
        Path spec = copySample(tmp, "no-prep.spec");
        Result r = run(
                Map.of("PATH", bin + ":" + System.getenv("PATH")),
                tmp,
                "bash",
                BUILD.toString(),
                "--spec",
                spec.toString(),
                "--topdir",
                tmp.resolve("rpmbuild").toString());
        assertThat(r.exit()).isNotZero();
        assertThat(r.err()).contains("no %prep section");
        Path log = tmp.resolve("calls.log");
        assertThat(Files.exists(log) ? Files.readString(log) : "").doesNotContain("rpmbuild");
    }

    @Test
    @DisplayName(
            "the sample spec is a realistic one: Name/Version/Release, Source and Patch lines, %prep with %autosetup, %build, %install, %files")
    void sampleSpecIsRealistic() throws Exception {
        String s = Files.readString(TESTDATA.resolve("qemu.spec"));
        for (String needle : List.of(
                "\nName: qemu\n",
                "\nVersion: ",
                "\nRelease: ",
                "\nSource0: ",
                "\nPatch0: ",
                "\n%prep\n%autosetup -p1\n",
                "\n%build\n./configure ",
                "--target-list=i386-softmmu",
                "--without-default-devices",
                "\n%install\n",
                "\n%files\n",
                "\n%changelog\n")) {
            assertThat(s).contains(needle);
        }
        Matcher m = Pattern.compile("(?m)^Patch\\d+:").matcher(s);
        assertThat(m.results().count()).isGreaterThanOrEqualTo(2);
    }
}
