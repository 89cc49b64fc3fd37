package dev.vgpuhil.protocol;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.qameta.allure.Allure;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.RecordComponent;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compiles a C program against vgpu_protocol.h that prints every VGPU_* define, the size and offset of every
 * struct field and a byte dump of filled structs, and compares all of it with the Java side.
 */
@DisplayName("vgpu_protocol.h agrees with the Java constants and codecs")
class VgpuProtocolHeaderTest {
    private static final Pattern DEFINE =
            Pattern.compile("^[ \\t]*#define[ \\t]+(VGPU_\\w+)(?:[ \\t]+(.*?))?[ \\t]*$", Pattern.MULTILINE);
    private static final Pattern STRUCT =
            Pattern.compile("typedef\\s+struct[^{]*?(\\w+)\\s*\\{(.*?)\\}\\s*(\\w+)\\s*;", Pattern.DOTALL);
    private static final Pattern FIELD =
            Pattern.compile("^\\s*(u?int\\d+_t)\\s+(\\w+)(\\[\\])?\\s*;", Pattern.MULTILINE);

    /** One X(NAME, OFFSET) entry of VGPU_REGISTERS, as gcc expanded it. */
    record Reg(String name, int offset) {}

    private static final Pattern X_ENTRY = Pattern.compile("X\\(\\s*(\\w+)\\s*,\\s*(0x[0-9A-Fa-f]+)\\s*\\)");

    record StructField(String struct, String type, String name, boolean flexible) {}

    static Map<String, String> defines = new LinkedHashMap<>();
    static List<StructField> fields = new ArrayList<>();
    static Map<String, String> cOutput = new LinkedHashMap<>();
    static List<Reg> xmacroText = new ArrayList<>();

    @BeforeAll
    static void compileAndRun(@TempDir Path dir) throws Exception {
        Path header = SourceTree.protocolHeader();
        String text = Files.readString(header);
        String noComments = text.replaceAll("(?s)/\\*.*?\\*/", "");
        Matcher m = DEFINE.matcher(noComments);
        while (m.find()) {
            if (m.group(2) != null && !m.group(2).isBlank()) {
                defines.put(m.group(1), m.group(2).trim());
            }
        }
        Matcher s = STRUCT.matcher(noComments);
        while (s.find()) {
            Matcher f = FIELD.matcher(s.group(2));
            while (f.find()) {
                fields.add(new StructField(s.group(3), f.group(1), f.group(2), f.group(3) != null));
            }
        }
        int xStart = noComments.indexOf("#define VGPU_REGISTERS(X)");
        assertThat(xStart).as("VGPU_REGISTERS(X) in %s", header).isNotNegative();
        String xBlock = noComments.substring(xStart, noComments.indexOf("\n\n", xStart));
        Matcher x = X_ENTRY.matcher(xBlock);
        while (x.find()) {
            xmacroText.add(new Reg(x.group(1), Integer.decode(x.group(2))));
        }
        assertThat(defines).as("defines parsed from %s", header).hasSizeGreaterThan(40);
        assertThat(fields).as("struct fields parsed from %s", header).hasSizeGreaterThan(12);

        StringBuilder c = new StringBuilder("#include <stdio.h>\n#include <stddef.h>\n#include <string.h>\n")
                .append("#include \"")
                .append(header.toAbsolutePath())
                .append("\"\n")
                .append("static void dump(const char *n, const void *p, size_t len) {\n")
                .append("  const unsigned char *b = p; printf(\"DUMP_%s=\", n);\n")
                .append("  for (size_t i = 0; i < len; i++) { printf(\"%02x\", b[i]); }\n  printf(\"\\n\"); }\n")
                .append("int main(void) {\n");
        for (Map.Entry<String, String> d : defines.entrySet()) {
            if (d.getValue().startsWith("\"")) {
                c.append("  printf(\"%s=%s\\n\", \"")
                        .append(d.getKey())
                        .append("\", ")
                        .append(d.getKey())
                        .append(");\n");
            } else {
                c.append("  printf(\"%s=%llu\\n\", \"")
                        .append(d.getKey())
                        .append("\", (unsigned long long)(")
                        .append(d.getKey())
                        .append("));\n");
            }
        }
        // The register list as the compiler sees it: names, the generated VGPU_REG_* enum values, vgpu_reg_name().
        c.append("#define PRINT_REG(name, offset) printf(\"XREG_%d=%s,%u,%u,%s\\n\", xreg++, #name, ")
                .append("(unsigned)(offset), (unsigned)VGPU_REG_##name, vgpu_reg_name(offset));\n")
                .append("  { int xreg = 0; VGPU_REGISTERS(PRINT_REG) }\n")
                .append("  printf(\"VGPU_REG_COUNT=%d\\n\", (int)VGPU_REG_COUNT);\n")
                .append(
                        "  printf(\"REG_NAME_AFTER_LAST=%s\\n\", vgpu_reg_name(VGPU_REG_AREA_SIZE) ? \"named\" : \"null\");\n");
        for (String struct : fields.stream().map(StructField::struct).distinct().toList()) {
            c.append("  printf(\"SIZEOF_")
                    .append(struct)
                    .append("=%zu\\n\", sizeof(")
                    .append(struct)
                    .append("));\n");
            c.append("  { ").append(struct).append(" v; memset(&v, 0, sizeof v);\n");
            int i = 0;
            for (StructField f : fields) {
                if (!f.struct().equals(struct)) {
                    continue;
                }
                c.append("    printf(\"OFFSETOF_")
                        .append(struct)
                        .append('.')
                        .append(f.name())
                        .append("=%zu\\n\", offsetof(")
                        .append(struct)
                        .append(", ")
                        .append(f.name())
                        .append("));\n");
                if (!f.flexible()) {
                    c.append("    printf(\"SIZEOF_")
                            .append(struct)
                            .append('.')
                            .append(f.name())
                            .append("=%zu\\n\", sizeof v.")
                            .append(f.name())
                            .append(");\n");
                    c.append("    v.")
                            .append(f.name())
                            .append(" = (")
                            .append(f.type())
                            .append(")")
                            .append(markerValue(i))
                            .append("ULL;\n");
                }
                i++;
            }
            c.append("    dump(\"").append(struct).append("\", &v, sizeof v); }\n");
        }
        c.append("  return 0;\n}\n");
        Path src = dir.resolve("dump_protocol.c");
        Files.writeString(src, c);
        Path exe = dir.resolve("dump_protocol");
        run(List.of("gcc", "-std=gnu11", "-Wall", "-Werror", "-o", exe.toString(), src.toString()));
        for (String line : run(List.of(exe.toString())).split("\n")) {
            int eq = line.indexOf('=');
            cOutput.put(line.substring(0, eq), line.substring(eq + 1));
        }
        Allure.addAttachment("generated C program", "text/plain", c.toString());
        Allure.addAttachment(
                "C program output",
                "text/plain",
                String.join(
                        "\n",
                        cOutput.entrySet().stream()
                                .map(e -> e.getKey() + "=" + e.getValue())
                                .toList()));
    }

    /** A distinct, width-independent byte pattern per field index, so any misplaced byte shows. */
    static long markerValue(int index) {
        long v = 0;
        for (int b = 0; b < 8; b++) {
            v |= (long) (((index + 1) << 4) | b) << (8 * b);
        }
        return v;
    }

    private static String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            fail("timed out: " + cmd);
        }
        String text = new String(out, StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as("exit code of %s; output:%n%s", cmd, text).isZero();
        return text;
    }

    @Test
    @DisplayName("every VGPU_* define has a Java constant with the same value")
    void everyDefineHasAnEqualJavaConstant() throws Exception {
        List<String> problems = new ArrayList<>();
        for (String name : defines.keySet()) {
            String javaName = name.substring("VGPU_".length());
            String cValue = cOutput.get(name);
            Field f;
            try {
                f = VgpuProtocol.class.getField(javaName);
            } catch (NoSuchFieldException e) {
                problems.add(name + " has no Java constant VgpuProtocol." + javaName);
                continue;
            }
            if (!Modifier.isStatic(f.getModifiers()) || !Modifier.isFinal(f.getModifiers())) {
                problems.add("VgpuProtocol." + javaName + " is not static final");
                continue;
            }
            Object javaValue = f.get(null);
            String javaText = javaValue instanceof Integer i
                    ? Integer.toUnsignedString(i)
                    : javaValue instanceof Long l ? Long.toUnsignedString(l) : String.valueOf(javaValue);
            if (!javaText.equals(cValue)) {
                problems.add(name + ": C " + cValue + " but Java " + javaText);
            }
        }
        assertThat(problems).as("define/constant mismatches").isEmpty();
        assertThat(defines).containsKeys("VGPU_SOCKET_MAGIC", "VGPU_ERR_SHUTDOWN", "VGPU_REG_AREA_SIZE");
    }

    @Test
    @DisplayName(
            "VGPU_REGISTERS X-macro: VgpuProtocol.Register and the REG_* constants list the same names and offsets")
    void registerTableMatchesXMacro() throws Exception {
        List<Reg> compiled = new ArrayList<>();
        for (Map.Entry<String, String> e : cOutput.entrySet()) {
            if (!e.getKey().startsWith("XREG_")) {
                continue;
            }
            String[] p = e.getValue().split(",");
            assertThat(p[2]).as("enum VGPU_REG_%s = its X-macro offset", p[0]).isEqualTo(p[1]);
            assertThat(p[3])
                    .as("vgpu_reg_name(0x%s)", Integer.toHexString(Integer.parseInt(p[1])))
                    .isEqualTo(p[0]);
            compiled.add(new Reg(p[0], Integer.parseInt(p[1])));
        }
        assertThat(compiled)
                .as("X-macro entries compiled vs. read from the header text")
                .isEqualTo(xmacroText);
        assertThat(compiled).hasSize(Integer.parseInt(cOutput.get("VGPU_REG_COUNT")));
        assertThat(cOutput.get("REG_NAME_AFTER_LAST")).isEqualTo("null");

        List<Reg> java = new ArrayList<>();
        for (VgpuProtocol.Register r : VgpuProtocol.Register.values()) {
            java.add(new Reg(r.name(), r.offset()));
            assertThat(VgpuProtocol.class.getField("REG_" + r.name()).getInt(null))
                    .as("REG_" + r.name())
                    .isEqualTo(r.offset());
            assertThat(VgpuProtocol.Register.at(r.offset())).contains(r);
        }
        assertThat(java).as("VgpuProtocol.Register vs. VGPU_REGISTERS(X)").isEqualTo(compiled);
        assertThat(VgpuProtocol.REG_COUNT).isEqualTo(compiled.size());
        assertThat(VgpuProtocol.Register.at(VgpuProtocol.REG_AREA_SIZE)).isEmpty();
    }

    @Test
    @DisplayName("every VGPU_ERR_* define is an ErrorCode with the same code and name")
    void errorCodesMatchTheEnum() {
        List<String> errs =
                defines.keySet().stream().filter(n -> n.startsWith("VGPU_ERR_")).toList();
        assertThat(errs).hasSize(VgpuProtocol.ErrorCode.values().length);
        for (String name : errs) {
            int code = Integer.parseInt(cOutput.get(name));
            assertThat(VgpuProtocol.ErrorCode.fromCode(code))
                    .as(name)
                    .hasValueSatisfying(e -> assertThat("VGPU_ERR_" + e.name()).isEqualTo(name));
        }
    }

    @Test
    @DisplayName("VGPUSocketHeader: offsets, sizes and Frame.encode bytes agree with gcc")
    void socketHeaderLayoutMatchesFrame() throws Exception {
        assertThat(cOutput.get("SIZEOF_VGPUSocketHeader")).isEqualTo(String.valueOf(VgpuProtocol.SOCKET_HEADER_SIZE));
        List<StructField> header = fields.stream()
                .filter(f -> f.struct().equals("VGPUSocketHeader"))
                .toList();
        RecordComponent[] components = Frame.class.getRecordComponents();
        Object[] args = new Object[components.length];
        for (int i = 0; i < header.size(); i++) {
            StructField f = header.get(i);
            assertThat(cOutput.get("OFFSETOF_VGPUSocketHeader." + f.name()))
                    .as("offsetof " + f.name())
                    .isEqualTo(String.valueOf(VgpuProtocol.HeaderOffsets.class
                            .getField(f.name().toUpperCase())
                            .getInt(null)));
            int width = Integer.parseInt(cOutput.get("SIZEOF_VGPUSocketHeader." + f.name()));
            long masked = width == 8 ? markerValue(i) : markerValue(i) & ((1L << (8 * width)) - 1);
            int idx = componentIndex(components, camel(f.name()));
            args[idx] = (int) masked;
        }
        for (int i = 0; i < components.length; i++) {
            if (args[i] == null) {
                assertThat(components[i].getName())
                        .as("Frame component without a header field")
                        .isEqualTo("payload");
                args[i] = new byte[0];
            }
        }
        Frame frame = (Frame) Frame.class.getDeclaredConstructors()[0].newInstance(args);
        assertThat(HexFormat.of().formatHex(frame.encode())).isEqualTo(cOutput.get("DUMP_VGPUSocketHeader"));
    }

    @Test
    @DisplayName("VGPURequest: offsets and ComputeRequest.encode bytes agree with gcc")
    void requestLayoutMatchesComputeRequest() throws Exception {
        assertThat(cOutput.get("SIZEOF_VGPURequest")).isEqualTo(String.valueOf(VgpuProtocol.REQUEST_HEADER_SIZE));
        List<StructField> req =
                fields.stream().filter(f -> f.struct().equals("VGPURequest")).toList();
        for (StructField f : req) {
            assertThat(cOutput.get("OFFSETOF_VGPURequest." + f.name()))
                    .as("offsetof " + f.name())
                    .isEqualTo(String.valueOf(VgpuProtocol.RequestOffsets.class
                            .getField(f.name().toUpperCase())
                            .getInt(null)));
        }
        assertThat(req.get(0).name()).isEqualTo("opcode");
        assertThat(req.get(1).name()).isEqualTo("count");
        ComputeRequest r = new ComputeRequest((int) markerValue(0), (int) markerValue(1), new byte[0]);
        assertThat(HexFormat.of().formatHex(r.encode())).isEqualTo(cOutput.get("DUMP_VGPURequest"));
    }

    private static String camel(String snake) {
        StringBuilder sb = new StringBuilder();
        boolean up = false;
        for (char ch : snake.toCharArray()) {
            if (ch == '_') {
                up = true;
            } else {
                sb.append(up ? Character.toUpperCase(ch) : ch);
                up = false;
            }
        }
        return sb.toString();
    }

    private static int componentIndex(RecordComponent[] components, String name) {
        for (int i = 0; i < components.length; i++) {
            if (components[i].getName().equals(name)) {
                return i;
            }
        }
        throw new AssertionError("Frame has no record component for header field " + name);
    }
}
