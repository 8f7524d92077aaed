package dev.dcd.catalog;

import java.nio.charset.Charset;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CharsetEncoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.charset.spi.CharsetProvider;
import java.util.Iterator;
import java.util.List;

/**
 * UTF-8 under a name Commons Compress does not recognize as UTF-8. For UTF-8 it swaps bad bytes for '?',
 * which would turn two different raw names into one; for any other charset it reports them, which is what
 * an importer needs. Registered as a {@link CharsetProvider} so {@code Charset.forName(NAME)} finds it.
 */
public final class StrictUtf8 extends CharsetProvider {
    public static final String NAME = "x-dcd-strict-utf-8";
    static final Charset CHARSET = new Strict();

    @Override
    public Iterator<Charset> charsets() {
        return List.of(CHARSET).iterator();
    }

    @Override
    public Charset charsetForName(String charsetName) {
        return NAME.equalsIgnoreCase(charsetName) ? CHARSET : null;
    }

    private static final class Strict extends Charset {
        Strict() {
            super(NAME, new String[0]);
        }

        @Override
        public boolean contains(Charset cs) {
            return StandardCharsets.UTF_8.contains(cs);
        }

        @Override
        public CharsetDecoder newDecoder() {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
        }

        @Override
        public CharsetEncoder newEncoder() {
            return StandardCharsets.UTF_8.newEncoder();
        }
    }
}
