package dev.vgpuhil.images;

/** The CI guest image could not be found or built; the message says why (and, for a failed build, shows the script's stderr tail). */
public class GuestImageException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public GuestImageException(String message) {
        super(message);
    }

    public GuestImageException(String message, Throwable cause) {
        super(message, cause);
    }
}
