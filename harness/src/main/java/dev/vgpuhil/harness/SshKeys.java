package dev.vgpuhil.harness;

import com.jcraft.jsch.JSch;
import com.jcraft.jsch.JSchException;
import com.jcraft.jsch.KeyPair;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;

/** A fresh ed25519 key pair per run: the guest only trusts the key of the run that booted it. */
public record SshKeys(Path privateKey, Path publicKey) {

    public static SshKeys generate(Path dir) {
        try {
            Files.createDirectories(dir);
            Path priv = dir.resolve("id_ed25519");
            Path pub = dir.resolve("id_ed25519.pub");
            KeyPair pair = KeyPair.genKeyPair(new JSch(), KeyPair.ED25519);
            try {
                pair.writePrivateKey(priv.toString());
                pair.writePublicKey(pub.toString(), "vgpu-hil");
            } finally {
                pair.dispose();
            }
            Files.setPosixFilePermissions(priv, PosixFilePermissions.fromString("rw-------"));
            return new SshKeys(priv, pub);
        } catch (JSchException e) {
            throw new IllegalStateException("cannot generate an SSH key pair: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public String publicKeyLine() {
        try {
            return Files.readString(publicKey).trim();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
