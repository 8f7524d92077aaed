package dev.dcd.filter;

/**
 * What the prefetcher of one disk did: lists replayed and their progress, demand reads they served, traces recorded.
 *
 * @param listed     chunks in the lists being replayed
 * @param done       listed chunks the replay has dealt with (fetched, or found in the cache already)
 * @param fetched    listed chunks the replay fetched from a backend (not in the cache before)
 * @param hits       listed chunks whose first demand read found them replayed already
 * @param failed     replay runs that failed (the guest's own reads then fetch and report)
 * @param replaying  lists being replayed (vdisks)
 * @param recording  traces being recorded (vdisks)
 * @param recorded   chunks recorded so far in those traces
 * @param saved      traces stored as lists by this disk
 */
public record PrefetchStats(long listed, long done, long fetched, long hits, long failed, int replaying, int recording,
                            long recorded, int saved) {
    public static final PrefetchStats NONE = new PrefetchStats(0, 0, 0, 0, 0, 0, 0, 0, 0);
}
