package dev.dcd.synth;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

class NameOrderTest {
    @Test
    void nameOrderIsExactlyTheOrderOfTheUtf8Bytes() {
        String[] alphabet = {"a", "B", "z", "\u00e9", "\uffee", "\ud83d\ude00", "\ud801\udc00", "0", "~", "\u4e2d"};
        Random random = new Random(11);
        for (int i = 0; i < 20_000; i++) {
            String a = word(random, alphabet);
            String b = word(random, alphabet);
            int expected = Integer.signum(Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8)));
            assertEquals(expected, Integer.signum(FsNode.NAME_ORDER.compare(a, b)), a + " vs " + b);
        }
    }

    private static String word(Random random, String[] alphabet) {
        StringBuilder s = new StringBuilder();
        int n = random.nextInt(5);
        for (int i = 0; i < n; i++) {
            s.append(alphabet[random.nextInt(alphabet.length)]);
        }
        return s.toString();
    }
}
