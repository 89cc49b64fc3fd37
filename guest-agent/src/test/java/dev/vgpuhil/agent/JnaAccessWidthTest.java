package dev.vgpuhil.agent;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.jna.Native;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * MappedBar0 relies on JNA's Native.getInt/setInt doing one single 32-bit access. This disassembles the
 * libjnidispatch.so that goes into the guest (linux-x86-64, from the JNA jar on the classpath) and checks that each
 * function touches memory through {@code peer + offset} exactly once, with a 32-bit register, and never calls memcpy.
 */
@DisplayName("JNA Native.getInt/setInt are single 32-bit accesses (linux-x86-64 libjnidispatch, disassembled)")
class JnaAccessWidthTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "Java_com_sun_jna_Native_getInt, 'mov    (%r', '),%e'",
        "Java_com_sun_jna_Native_setInt, 'mov    %e', ',1)'",
    })
    void singleAccess(String symbol, String start, String end) throws Exception {
        Path lib = tmp.resolve("libjnidispatch.so");
        try (InputStream in = Native.class.getResourceAsStream("/com/sun/jna/linux-x86-64/libjnidispatch.so")) {
            assertThat(in)
                    .as("JNA's linux-x86-64 native library on the classpath")
                    .isNotNull();
            Files.copy(in, lib, StandardCopyOption.REPLACE_EXISTING);
        }
        List<String> asm = objdump(lib, symbol);
        List<String> access = new ArrayList<>();
        for (String l : asm) {
            // the access through a base+index address: (%rXX,%rYY,1)
            if (l.contains(",1)") && l.contains("mov")) {
                access.add(l.trim());
            }
            assertThat(l).as("no memcpy call").doesNotContain("memcpy");
        }
        assertThat(access).as("base+offset accesses in %s", symbol).hasSize(1);
        String insn = access.get(0);
        assertThat(insn)
                .as("a plain 32-bit mov")
                .contains(start)
                .contains(end)
                .doesNotContain("movb")
                .doesNotContain("movw")
                .doesNotContain("movq");
    }

    private static List<String> objdump(Path lib, String symbol) throws Exception {
        Process p;
        try {
            p = new ProcessBuilder("objdump", "-d", "--no-show-raw-insn", "--disassemble=" + symbol, lib.toString())
                    .redirectErrorStream(true)
                    .start();
        } catch (java.io.IOException e) {
            throw new AssertionError("objdump (binutils, installed with build-essential) is missing", e);
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue() == 0 && out.contains("<" + symbol + ">:"))
                .as("objdump disassembles " + symbol + ": " + out)
                .isTrue();
        List<String> lines = new ArrayList<>();
        boolean in = false;
        for (String l : out.split("\n")) {
            if (l.contains("<" + symbol + ">:")) {
                in = true;
            } else if (in && l.matches("\\s+[0-9a-f]+:\\s.*")) {
                lines.add(l);
            } else if (in && l.startsWith("Disassembly of section")) {
                break;
            }
        }
        return lines;
    }
}
