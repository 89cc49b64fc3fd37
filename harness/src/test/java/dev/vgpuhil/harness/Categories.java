package dev.vgpuhil.harness;

import dev.vgpuhil.protocol.SourceTree;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/** reports/categories.json applied the way Allure does (message regex, DOTALL, whole message must match). */
public final class Categories {
    private Categories() {}

    /** Names of the categories whose messageRegex matches {@code message}. */
    public static List<String> matching(String message) throws IOException {
        Object parsed = Json.parse(Files.readString(SourceTree.path("reports", "categories.json")));
        List<String> out = new ArrayList<>();
        for (Object o : (List<?>) parsed) {
            @SuppressWarnings("unchecked")
            Map<String, Object> c = (Map<String, Object>) o;
            String regex = (String) c.get("messageRegex");
            if (regex != null && Pattern.compile(regex, Pattern.DOTALL).matcher(message).matches()) {
                out.add((String) c.get("name"));
            }
        }
        return out;
    }
}
