package dev.vgpuhil.mediator;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.OptionalLong;
import java.util.stream.Collectors;

/**
 * The peer uids the mediator admits: single uids and inclusive ranges, as {@code --allowed-uids 0,1000,65536-131071}
 * takes them. Ranges exist for XCP-ng, where xenopsd runs each VM's QEMU as uid {@code qemu_base + domid}.
 */
final class AllowedUids {
    /** An inclusive uid range; a single uid is a range of one. */
    record Range(long first, long last) {
        Range {
            if (first < 0 || last > MAX_UID || first > last) {
                throw new IllegalArgumentException("bad uid range " + first + "-" + last);
            }
        }

        @Override
        public String toString() {
            return first == last ? Long.toString(first) : first + "-" + last;
        }
    }

    /** uid_t is 32 bits unsigned; (uid_t) -1 means "no uid" and is never admitted. */
    static final long MAX_UID = 0xFFFF_FFFEL;

    private final List<Range> ranges;

    private AllowedUids(List<Range> ranges) {
        this.ranges = List.copyOf(ranges);
    }

    /**
     * Parses {@code U,U-U,...} (e.g. {@code 0,1000,65536-131071}).
     *
     * @throws IllegalArgumentException naming the bad part
     */
    static AllowedUids parse(String spec) {
        List<Range> out = new ArrayList<>();
        for (String part : spec.split(",", -1)) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int dash = p.indexOf('-', 1);
            try {
                out.add(
                        dash < 0
                                ? new Range(uid(p), uid(p))
                                : new Range(uid(p.substring(0, dash)), uid(p.substring(dash + 1))));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(
                        "--allowed-uids: '" + p + "' is neither a uid nor a range FIRST-LAST" + " of uids 0.." + MAX_UID
                                + " with FIRST <= LAST (e.g. 0,1000,65536-131071)",
                        e);
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("--allowed-uids needs at least one uid or range");
        }
        return new AllowedUids(out);
    }

    private static long uid(String s) {
        String t = s.trim();
        if (t.isEmpty() || !t.chars().allMatch(Character::isDigit) || t.length() > 10) {
            throw new IllegalArgumentException("not a uid: '" + t + "'");
        }
        return Long.parseLong(t);
    }

    static AllowedUids of(Collection<Integer> uids) {
        if (uids.isEmpty()) {
            throw new IllegalArgumentException("no allowed uids");
        }
        return new AllowedUids(uids.stream().map(u -> new Range(u, u)).toList());
    }

    boolean contains(long uid) {
        for (Range r : ranges) {
            if (uid >= r.first && uid <= r.last) {
                return true;
            }
        }
        return false;
    }

    /** Whether the peer {@code user} (from SO_PEERCRED) is admitted; a user whose uid cannot be found is not. */
    boolean admits(UserPrincipal user) {
        OptionalLong uid = uidOf(user);
        return uid.isPresent() && contains(uid.getAsLong());
    }

    /**
     * The uid behind a peer principal. The JDK names it by its passwd entry when there is one, else by the number
     * itself; a name is resolved with getpwnam(3), as the JDK resolved the uid to it.
     */
    static OptionalLong uidOf(UserPrincipal user) {
        String name = user.getName();
        if (!name.isEmpty() && name.length() <= 10 && name.chars().allMatch(Character::isDigit)) {
            return OptionalLong.of(Long.parseLong(name));
        }
        Pointer pw = LibC.INSTANCE.getpwnam(name);
        // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; ... }
        return pw == null
                ? OptionalLong.empty()
                : OptionalLong.of(Integer.toUnsignedLong(pw.getInt(2L * Native.POINTER_SIZE)));
    }

    private interface LibC extends Library {
        LibC INSTANCE = Native.load("c", LibC.class);

        Pointer getpwnam(String name);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof AllowedUids other && ranges.equals(other.ranges);
    }

    @Override
    public int hashCode() {
        return ranges.hashCode();
    }

    @Override
    public String toString() {
        return ranges.stream().map(Range::toString).collect(Collectors.joining(","));
    }
}
