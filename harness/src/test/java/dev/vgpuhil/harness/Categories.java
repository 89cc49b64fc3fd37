package dev.vgpuhil.harness;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vgpuhil.protocol.SourceTree;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/** reports/categories.json applied the way Allure does (message regex, DOTALL, whole message must match). */
public final class Categories {
    private Categories() {}

    /** Names of the categories whose messageRegex matches {@code message}. */
    public static List<String> matching(String message) throws IOException {
        JsonNode parsed = JsonObjects.parse(Files.readString(SourceTree.path("reports", "categories.json")));
        List<String> out = new ArrayList<>();
        for (JsonNode c : parsed) {
            String regex = c.path("messageRegex").textValue();
            if (regex != null
                    && Pattern.compile(regex, Pattern.DOTALL).matcher(message).matches()) {
                out.add(c.path("name").textValue());
            }
        }
        return out;
    }
}
