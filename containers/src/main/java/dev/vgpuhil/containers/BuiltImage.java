package dev.vgpuhil.containers;

/**
 * An image built on this machine: its reference ({@code vgpu-hil/mediator-lite:0.1.0-SNAPSHOT}), image id, the hash of
 * its inputs (label {@code dev.vgpuhil.hash}; also tagged {@code NAME:h-HASH}) and the inputs themselves (label {@code
 * dev.vgpuhil.inputs}), for the report's environment.
 */
public record BuiltImage(String ref, String id, String hash, String inputs) {}
