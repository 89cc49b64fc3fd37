package dev.vgpuhil.qemu.qtest;

/** An asynchronous {@code IRQ raise N} / {@code IRQ lower N} line from an intercepted interrupt controller. */
public record IrqEvent(int line, boolean raised) {
    static IrqEvent parse(String text) {
        String[] w = text.trim().split("\\s+");
        if (w.length != 3 || !w[0].equals("IRQ") || !(w[1].equals("raise") || w[1].equals("lower"))) {
            throw new IllegalArgumentException("not an IRQ line: " + text);
        }
        return new IrqEvent(Integer.parseInt(w[2]), w[1].equals("raise"));
    }
}
