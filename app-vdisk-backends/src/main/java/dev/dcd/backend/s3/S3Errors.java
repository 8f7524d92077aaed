package dev.dcd.backend.s3;

import software.amazon.awssdk.awscore.exception.AwsErrorDetails;
import software.amazon.awssdk.awscore.exception.AwsServiceException;
import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.exception.ApiCallAttemptTimeoutException;
import software.amazon.awssdk.core.exception.ApiCallTimeoutException;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkServiceException;

import java.io.IOException;
import java.io.UncheckedIOException;

/** Sorts S3 failures into retryable and final ones, and says what happened in one line. */
final class S3Errors {
    private S3Errors() {
    }

    /** A failure that retrying cannot fix and that the SDK did not produce (a bad checksum, a short object). */
    static class Permanent extends IOException {
        Permanent(String message) {
            super(message);
        }
    }

    static RetryPolicy.Verdict classify(Throwable t) {
        for (Throwable c = t; c != null && c.getCause() != c; c = c.getCause()) {
            if (c instanceof Permanent) {
                return RetryPolicy.Verdict.PERMANENT;
            }
        }
        if (t instanceof SdkServiceException service) {
            int status = service.statusCode();
            return status >= 500 || status == 429 || status == 408 || service.isThrottlingException()
                    ? RetryPolicy.Verdict.TRANSIENT : RetryPolicy.Verdict.PERMANENT;
        }
        if (t instanceof ApiCallAttemptTimeoutException || t instanceof ApiCallTimeoutException) {
            return RetryPolicy.Verdict.TRANSIENT;
        }
        if (t instanceof AbortedException) {
            return RetryPolicy.Verdict.PERMANENT;
        }
        if (t instanceof SdkClientException || t instanceof UncheckedIOException) {
            // Connection refused/reset, a socket timeout, a body cut short: the network, not the request.
            return causedByIo(t) ? RetryPolicy.Verdict.TRANSIENT : RetryPolicy.Verdict.PERMANENT;
        }
        if (t instanceof IOException) {
            return RetryPolicy.Verdict.TRANSIENT;
        }
        return RetryPolicy.Verdict.PERMANENT;
    }

    private static boolean causedByIo(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof IOException) {
                return true;
            }
            if (c.getCause() == c) {
                break;
            }
        }
        return false;
    }

    static boolean isNotFound(Throwable t) {
        return t instanceof SdkServiceException s && s.statusCode() == 404;
    }

    static boolean isNotFound(RetryPolicy.Failure f) {
        return isNotFound(f.getCause());
    }

    /** One line, no stack, no request signature. */
    static String describe(Throwable t) {
        if (t instanceof AwsServiceException aws) {
            AwsErrorDetails details = aws.awsErrorDetails();
            String code = details == null ? null : details.errorCode();
            String message = details == null ? null : details.errorMessage();
            return "HTTP " + aws.statusCode() + (code == null ? "" : " " + code)
                    + (message == null || message.isBlank() ? "" : ": " + oneLine(message));
        }
        if (t instanceof SdkServiceException service) {
            return "HTTP " + service.statusCode();
        }
        if (t instanceof ApiCallAttemptTimeoutException || t instanceof ApiCallTimeoutException) {
            return "request timed out";
        }
        for (Throwable c = t; c != null && c.getCause() != c; c = c.getCause()) {
            if (c instanceof Permanent) {
                return oneLine(c.getMessage());
            }
        }
        String message = t.getMessage();
        if (t instanceof SdkClientException && t.getCause() != null && t.getCause().getMessage() != null) {
            message = t.getCause().getMessage();
        }
        return message == null ? t.getClass().getSimpleName() : oneLine(message);
    }

    static String oneLine(String s) {
        String flat = s.replaceAll("\\s*[\\r\\n]+\\s*", " ").trim();
        return flat.length() > 300 ? flat.substring(0, 300) + "..." : flat;
    }
}
