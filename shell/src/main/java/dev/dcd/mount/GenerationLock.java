package dev.dcd.mount;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * The one-writer rule for a disk generation: whoever serves it (a FUSE mount, an NBD export, or both from one
 * process) holds an exclusive lock on {@code serve.lock} in the generation directory. Two processes writing
 * one overlay would each keep its own block map and lose the other's writes, so the second is refused. The
 * file's text names the holder for the refusal message; the lock, not the text, is what counts, and the
 * kernel drops it when the holder dies, so a crash never leaves a generation locked.
 */
public final class GenerationLock implements Closeable {
    public static final String FILE_NAME = "serve.lock";

    private final FileChannel channel;
    private final FileLock lock;

    private GenerationLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * @param what who is asking, e.g. "VM web1 generation 3"
     * @throws IOException with one line naming the process that holds the generation
     */
    public static GenerationLock acquire(Path generationDir, String what) throws IOException {
        FileChannel channel = FileChannel.open(generationDir.resolve(FILE_NAME), StandardOpenOption.CREATE,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = channel.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        if (lock == null) {
            String holder = holder(channel);
            channel.close();
            throw new IOException(what + " is already being served by " + holder
                    + "; stop it first (dcd umount MOUNTPOINT or dcd serve --stop VM)");
        }
        String me = "pid " + ProcessHandle.current().pid() + "\n";
        channel.truncate(0);
        channel.write(ByteBuffer.wrap(me.getBytes(StandardCharsets.US_ASCII)), 0);
        return new GenerationLock(channel, lock);
    }

    private static String holder(FileChannel channel) {
        try {
            ByteBuffer b = ByteBuffer.allocate(64);
            channel.read(b, 0);
            String text = new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII).strip();
            return text.matches("pid \\d+") ? "another process (" + text + ")" : "another process";
        } catch (IOException e) {
            return "another process";
        }
    }

    @Override
    public void close() throws IOException {
        try {
            lock.release();
        } finally {
            channel.close();
        }
    }
}
