package dev.dcd.backend;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.channels.UnresolvedAddressException;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class UnreachableExceptionTest {
    private static final Duration FIVE_SECONDS = Duration.ofSeconds(5);

    private static UnreachableException classify(Throwable failure) {
        return UnreachableException.classify("10.0.0.7:10809", "san.example", FIVE_SECONDS, failure).orElseThrow();
    }

    @Test
    void aRefusedConnectionAnywhereInTheCauseChainIsRefused() {
        UnreachableException e = classify(new IOException("connect failed", new ConnectException("Connection refused")));
        assertEquals(UnreachableException.Reason.REFUSED, e.reason());
        assertEquals("connection refused by 10.0.0.7:10809", e.getMessage());
        assertEquals("start the server or check the port", e.advice());
    }

    @Test
    void aTimeoutIsNoAnswerWithinTheTimeTried() {
        UnreachableException e = classify(new SocketTimeoutException("Connect timed out"));
        assertEquals(UnreachableException.Reason.NO_ANSWER, e.reason());
        assertEquals("no answer from 10.0.0.7:10809 within 5 s", e.getMessage());
    }

    @Test
    void aNameThatDoesNotResolveIsAnUnknownHostWhicheverWayTheJdkSaysIt() {
        assertEquals("unknown host san.example", classify(new UnknownHostException("san.example")).getMessage());
        assertEquals(UnreachableException.Reason.UNKNOWN_HOST,
                classify(new IOException(new UnresolvedAddressException())).reason());
    }

    @Test
    void anythingElseIsLeftForTheBackendToSayInItsOwnWords() {
        assertTrue(UnreachableException.classify("h:1", "h", FIVE_SECONDS,
                new IOException("h:1 is not an NBD server (no NBDMAGIC greeting)")).isEmpty());
    }

    @Test
    void timesReadAsAPersonWouldWriteThem() {
        assertEquals("300 ms", UnreachableException.format(Duration.ofMillis(300)));
        assertEquals("5 s", UnreachableException.format(Duration.ofSeconds(5)));
        assertEquals("1.5 s", UnreachableException.format(Duration.ofMillis(1500)));
    }
}
