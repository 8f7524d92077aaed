package dev.dcd.backend.s3;

import dev.dcd.backend.BackendException;
import dev.dcd.backend.Progress;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Stores a vdisk so that readers see all of it or nothing: one PutObject when it fits in a part, otherwise a
 * multipart upload whose object appears only at CompleteMultipartUpload, and which is aborted on any failure
 * so no parts are left behind. A few parts are in flight at once; reading the source stays sequential.
 */
final class S3Uploader {
    private final S3Backend backend;
    private final ExecutorService pool;

    S3Uploader(S3Backend backend, ExecutorService pool) {
        this.backend = backend;
        this.pool = pool;
    }

    void upload(String key, InputStream data, long length, Progress progress) throws IOException {
        S3Config config = backend.config();
        if (length <= config.partBytes()) {
            byte[] bytes = readExactly(key, data, (int) length, 0, length);
            backend.call(key, "PUT", t -> backend.client().putObject(
                    b -> b.bucket(config.bucket()).key(key).contentLength(length).overrideConfiguration(t),
                    RequestBody.fromBytes(bytes)));
            progress.advance(length);
            return;
        }
        long parts = (length + config.partBytes() - 1) / config.partBytes();
        if (parts > S3Config.MAX_PARTS) {
            throw new BackendException(backend.name(), key, "vdisk of " + length + " bytes needs " + parts
                    + " parts of " + config.partBytes() / S3Config.MIB + " MiB; S3 allows " + S3Config.MAX_PARTS
                    + " (raise part-mib)");
        }
        String uploadId = backend.call(key, "CreateMultipartUpload", t -> backend.client().createMultipartUpload(
                b -> b.bucket(config.bucket()).key(key).overrideConfiguration(t)).uploadId());
        try {
            List<CompletedPart> completed = uploadParts(key, uploadId, data, length, progress);
            complete(key, uploadId, completed, length);
        } catch (IOException | RuntimeException | Error e) {
            abort(key, uploadId, e);
            throw e;
        }
    }

    private List<CompletedPart> uploadParts(String key, String uploadId, InputStream data, long length, Progress progress)
            throws IOException {
        S3Config config = backend.config();
        // Bounds memory to (parallelism + 1) part buffers: one being filled while the others are sent.
        Semaphore inFlight = new Semaphore(config.uploadParallelism());
        AtomicLong done = new AtomicLong();
        Object progressLock = new Object();
        AtomicBoolean abandoned = new AtomicBoolean();
        List<Future<CompletedPart>> futures = new ArrayList<>();
        boolean ok = false;
        try {
            long offset = 0;
            for (int partNumber = 1; offset < length; partNumber++) {
                int size = (int) Math.min(config.partBytes(), length - offset);
                inFlight.acquire();
                failFast(key, futures);
                byte[] bytes;
                try {
                    bytes = readExactly(key, data, size, offset, length);
                } catch (IOException | RuntimeException e) {
                    inFlight.release();
                    throw e;
                }
                int number = partNumber;
                futures.add(pool.submit(() -> {
                    try {
                        if (abandoned.get()) {
                            return null;
                        }
                        String etag = backend.call(key, "UploadPart " + number, t -> backend.client().uploadPart(
                                b -> b.bucket(config.bucket()).key(key).uploadId(uploadId).partNumber(number)
                                        .contentLength((long) bytes.length).overrideConfiguration(t),
                                RequestBody.fromBytes(bytes)).eTag());
                        synchronized (progressLock) {
                            progress.advance(done.addAndGet(bytes.length));
                        }
                        return CompletedPart.builder().partNumber(number).eTag(etag).build();
                    } finally {
                        inFlight.release();
                    }
                }));
                offset += size;
            }
            List<CompletedPart> completed = new ArrayList<>();
            for (Future<CompletedPart> future : futures) {
                completed.add(future.get());
            }
            ok = true;
            return completed;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("upload of " + key + " to backend '" + backend.name() + "' was interrupted");
        } catch (ExecutionException e) {
            throw unwrap(key, e);
        } finally {
            if (!ok) {
                // Parts still being sent must land (or fail) before the abort, or one could outlive it.
                abandoned.set(true);
                for (Future<CompletedPart> future : futures) {
                    try {
                        future.get();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    } catch (ExecutionException e) {
                        // already reported or superseded by the first failure
                    }
                }
            }
        }
    }

    private void failFast(String key, List<Future<CompletedPart>> futures) throws IOException, InterruptedException {
        for (Future<CompletedPart> future : futures) {
            if (future.isDone()) {
                try {
                    future.get();
                } catch (ExecutionException e) {
                    throw unwrap(key, e);
                }
            }
        }
    }

    private IOException unwrap(String key, ExecutionException e) {
        Throwable cause = e.getCause();
        if (cause instanceof IOException io) {
            return io;
        }
        return new BackendException(backend.name(), key, "upload failed: " + cause, cause);
    }

    private void complete(String key, String uploadId, List<CompletedPart> parts, long length) throws IOException {
        S3Config config = backend.config();
        try {
            backend.call(key, "CompleteMultipartUpload", t -> backend.client().completeMultipartUpload(
                    b -> b.bucket(config.bucket()).key(key).uploadId(uploadId).multipartUpload(m -> m.parts(parts))
                            .overrideConfiguration(t)));
        } catch (S3Backend.S3Failure e) {
            // A retried Complete can fail with NoSuchUpload although the first try succeeded and only its answer
            // was lost; the object being there with the right size is what counts.
            if (!e.notFound() || !exists(key, length)) {
                throw e;
            }
        }
    }

    private boolean exists(String key, long length) {
        try {
            HeadObjectResponse head = backend.call(key, "HEAD", t -> backend.client().headObject(
                    b -> b.bucket(backend.config().bucket()).key(key).overrideConfiguration(t)));
            return head.contentLength() == length;
        } catch (IOException e) {
            return false;
        }
    }

    private void abort(String key, String uploadId, Throwable failure) {
        try {
            backend.call(key, "AbortMultipartUpload", t -> backend.client().abortMultipartUpload(
                    b -> b.bucket(backend.config().bucket()).key(key).uploadId(uploadId).overrideConfiguration(t)));
        } catch (IOException | RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    private byte[] readExactly(String key, InputStream data, int size, long offset, long length) throws IOException {
        byte[] bytes = new byte[size];
        int done = 0;
        try {
            while (done < size) {
                int n = data.read(bytes, done, size - done);
                if (n < 0) {
                    throw new BackendException(backend.name(), key, "source ended after " + (offset + done) + " of "
                            + length + " bytes; nothing was stored");
                }
                done += n;
            }
        } catch (BackendException e) {
            throw e;
        } catch (IOException e) {
            throw new BackendException(backend.name(), key, "reading the source failed after " + (offset + done)
                    + " of " + length + " bytes (" + e.getMessage() + "); nothing was stored", e);
        }
        return bytes;
    }
}
