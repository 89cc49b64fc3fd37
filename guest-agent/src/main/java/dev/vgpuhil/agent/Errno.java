package dev.vgpuhil.agent;

import com.sun.jna.NativeLibrary;

/** A failed libc call as one readable phrase: what failed, the errno and libc's own text for it. */
final class Errno {
    private Errno() {}

    static String describe(String what, int errno, NativeLibrary libc) {
        String text;
        try {
            text = libc.getFunction("strerror").invokeString(new Object[] {errno}, false);
        } catch (RuntimeException e) {
            text = null; // strerror itself unavailable: the number still says it
        }
        return what + ": errno " + errno + (text == null ? "" : " " + text);
    }
}
