package dev.dcd.backend;

import dev.dcd.block.BlockDevice;
import dev.dcd.block.FileBlockDevice;
import dev.dcd.vdisk.ContentId;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Vdisks as files named {@code <content-id>.vdisk}. A put writes {@code .<id><random>.tmp}, forces it to disk and
 * renames it into place, so a reader sees either nothing or the whole vdisk. A put killed before the rename (kill -9
 * of an import or a {@code catalog move}) leaves its hidden temporary file; the next put removes it once it is
 * {@link #STALE_TEMP_MILLIS} old, as the NFS backend does.
 */
final class LocalBackend implements Backend {
    static final String SUFFIX = ".vdisk";
    private static final int COPY_BUFFER = 1 << 20;
    /** A put in progress writes its temporary file all the time; one untouched for an hour belongs to a dead put. */
    static final long STALE_TEMP_MILLIS = 60 * 60 * 1000L;
    /** {@code .} + 64 hex digits of the content id + what {@link Files#createTempFile} adds + {@code .tmp}. */
    private static final java.util.regex.Pattern TEMP = java.util.regex.Pattern.compile("\\.[0-9a-f]{64}[0-9]*\\.tmp");

    private final String name;
    private final URI uri;
    private final Path dir;
    private final java.util.function.LongSupplier wallMillis;

    LocalBackend(String name, URI uri, Path dir) {
        this(name, uri, dir, System::currentTimeMillis);
    }

    LocalBackend(String name, URI uri, Path dir, java.util.function.LongSupplier wallMillis) {
        this.name = name;
        this.uri = uri;
        this.dir = dir;
        this.wallMillis = wallMillis;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public URI uri() {
        return uri;
    }

    private Path file(ContentId id) {
        return dir.resolve(id.hex() + SUFFIX);
    }

    @Override
    public void put(ContentId id, InputStream data, long length, Progress progress) throws IOException {
        Path target = file(id);
        Path tmp = null;
        try {
            Files.createDirectories(dir);
            if (Files.exists(target) && Files.size(target) == length) {
                return;
            }
            sweepStaleTemps();
            tmp = Files.createTempFile(dir, "." + id.hex(), ".tmp");
            long copied = 0;
            try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.WRITE);
                 OutputStream stream = Channels.newOutputStream(out)) {
                byte[] buffer = new byte[COPY_BUFFER];
                while (copied < length) {
                    int n = data.read(buffer, 0, (int) Math.min(buffer.length, length - copied));
                    if (n < 0) {
                        throw new IOException("source ended after " + copied + " of " + length + " bytes");
                    }
                    stream.write(buffer, 0, n);
                    copied += n;
                    progress.advance(copied);
                }
                stream.flush();
                out.force(true);
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                throw new BackendException(name, id.hex(), "directory " + dir + " does not support atomic rename", e);
            }
            tmp = null;
        } catch (BackendException e) {
            throw e;
        } catch (IOException e) {
            throw new BackendException(name, id.hex(), "put failed: " + describe(e), e);
        } finally {
            if (tmp != null) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /** Removes temporary files of puts that died more than {@link #STALE_TEMP_MILLIS} ago; best effort. */
    private void sweepStaleTemps() {
        long cutoff = wallMillis.getAsLong() - STALE_TEMP_MILLIS;
        try (Stream<Path> files = Files.list(dir)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                if (TEMP.matcher(p.getFileName().toString()).matches()
                        && Files.getLastModifiedTime(p).toMillis() < cutoff) {
                    Files.deleteIfExists(p);
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            // Left for the next put; a temporary file is never listed as a vdisk.
        }
    }

    /**
     * Renames the sealed file into place when it is on this backend's filesystem: one rename instead of a
     * copy of the whole vdisk and a second fsync. The writer forced the file already, so the rename publishes
     * complete bytes. On another filesystem (no atomic rename there) this copies like {@link #put}.
     */
    @Override
    public void putFile(ContentId id, Path file, Progress progress) throws IOException {
        Path target = file(id);
        long length;
        try {
            Files.createDirectories(dir);
            length = Files.size(file);
            if (Files.exists(target) && Files.size(target) == length) {
                return;
            }
            Files.move(file, target, StandardCopyOption.ATOMIC_MOVE);
            progress.advance(length);
            return;
        } catch (AtomicMoveNotSupportedException e) {
            // another filesystem: copy below
        } catch (IOException e) {
            throw new BackendException(name, id.hex(), "put failed: " + describe(e), e);
        }
        Backend.super.putFile(id, file, progress);
    }

    @Override
    public BlockDevice open(ContentId id) throws IOException {
        try {
            FileBlockDevice device = FileBlockDevice.openReadOnly(file(id));
            return new NamedDevice(device, name + ":" + id.hex());
        } catch (NoSuchFileException e) {
            throw new BackendException(name, id.hex(), "no such vdisk in " + dir);
        } catch (IOException e) {
            throw new BackendException(name, id.hex(), "open failed: " + describe(e), e);
        }
    }

    @Override
    public Optional<ObjectStat> stat(ContentId id) throws IOException {
        Path file = file(id);
        try {
            return Optional.of(new ObjectStat(id, Files.size(file)));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new BackendException(name, id.hex(), "stat failed: " + describe(e), e);
        }
    }

    @Override
    public List<ObjectStat> list() throws IOException {
        if (!Files.isDirectory(dir)) {
            if (Files.exists(dir)) {
                throw new BackendException(name, null, dir + " is not a directory; point the backend at a directory");
            }
            // Not created yet: the directory appears with the first vdisk written.
            return List.of();
        }
        List<ObjectStat> result = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files.sorted()::iterator) {
                String fileName = file.getFileName().toString();
                if (fileName.endsWith(SUFFIX) && !fileName.startsWith(".")) {
                    ContentId.tryParse(fileName.substring(0, fileName.length() - SUFFIX.length()))
                            .ifPresent(id -> result.add(new ObjectStat(id, sizeOrZero(file))));
                }
            }
        } catch (IOException e) {
            throw new BackendException(name, null, "list of " + dir + " failed: " + describe(e), e);
        }
        return result;
    }

    private static long sizeOrZero(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return 0;
        }
    }

    @Override
    public void delete(ContentId id) throws IOException {
        try {
            Files.deleteIfExists(file(id));
        } catch (IOException e) {
            throw new BackendException(name, id.hex(), "delete failed: " + describe(e), e);
        }
    }

    private static String describe(IOException e) {
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
