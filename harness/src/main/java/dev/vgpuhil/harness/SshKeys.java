package dev.vgpuhil.harness;

import com.jcraft.jsch.JSch;
import com.jcraft.jsch.JSchException;
import com.jcraft.jsch.KeyPair;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A fresh key pair per run: the guest only trusts the key of the run that booted it (so a stale VM answering on
 * a reused port can never log this run in). ed25519 made by {@code ssh-keygen} (openssh-client) when present —
 * JSch reads ed25519 keys but cannot write their private half — else RSA 3072 made by JSch.
 *
 * <p>The private half lives only in this JVM's memory: it is read back and its file deleted as soon as it is made, so
 * not even a SIGKILLed run leaves a private key on disk. The public key file stays in {@code dir} (the NoCloud seed
 * of a user's image is made next to it).
 */
public record SshKeys(byte[] privateKey, Path publicKey) {

    public static SshKeys generate(Path dir) {
        try {
            Files.createDirectories(dir);
            Path priv = dir.resolve("id_vgpuhil");
            Path pub = dir.resolve("id_vgpuhil.pub");
            Files.deleteIfExists(priv);
            Files.deleteIfExists(pub);
            if (!sshKeygen(priv)) {
                KeyPair pair = KeyPair.genKeyPair(new JSch(), KeyPair.RSA, 3072);
                try {
                    pair.writePrivateKey(priv.toString());
                    pair.writePublicKey(pub.toString(), "vgpu-hil");
                } finally {
                    pair.dispose();
                }
            }
            Files.setPosixFilePermissions(priv, PosixFilePermissions.fromString("rw-------"));
            byte[] privateBytes;
            try {
                privateBytes = Files.readAllBytes(priv);
            } finally {
                Files.deleteIfExists(priv);
            }
            return new SshKeys(privateBytes, pub);
        } catch (JSchException e) {
            throw new IllegalStateException("cannot generate an SSH key pair: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean sshKeygen(Path priv) {
        Path keygen = Path.of("/usr/bin/ssh-keygen");
        if (!Files.isExecutable(keygen)) {
            return false;
        }
        try {
            Process p = new ProcessBuilder(List.of(
                            keygen.toString(),
                            "-q",
                            "-t",
                            "ed25519",
                            "-N",
                            "",
                            "-C",
                            "vgpu-hil",
                            "-f",
                            priv.toString()))
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .start();
            if (!p.waitFor(20, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0 && Files.isRegularFile(priv) && Files.isRegularFile(Path.of(priv + ".pub"));
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /** The private key for JSch (a copy: the caller may not change the run's key). */
    @Override
    public byte[] privateKey() {
        return privateKey.clone();
    }

    public String publicKeyLine() {
        try {
            return Files.readString(publicKey).trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
