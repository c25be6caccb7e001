package dev.vouch.bench;

import build.bazel.remote.execution.v2.ActionCacheGrpc;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsResponse;
import build.bazel.remote.execution.v2.ContentAddressableStorageGrpc;
import build.bazel.remote.execution.v2.Digest;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.protobuf.ByteString;
import io.grpc.ManagedChannel;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/** Fills a REAPI server with a {@link Workload}: BatchUpdateBlobs, then UpdateActionResult, several in flight. */
public final class Seeder {

    /** Well under gRPC's 4 MiB default message size, framing included. */
    static final long MAX_BATCH_BYTES = 1 << 20;
    static final int MAX_BATCH_BLOBS = 2_000;
    static final int IN_FLIGHT = 8;

    public record Seeded(long blobs, long bytes, long actionResults, double seconds) {
    }

    private Seeder() {
    }

    public static Seeded seed(Workload w, ManagedChannel channel, PrintStream out) throws Exception {
        var cas = ContentAddressableStorageGrpc.newBlockingStub(channel);
        var ac = ActionCacheGrpc.newBlockingStub(channel);
        AtomicLong blobs = new AtomicLong();
        AtomicLong bytes = new AtomicLong();
        AtomicLong results = new AtomicLong();
        long start = System.nanoTime();
        ExecutorService pool = Executors.newFixedThreadPool(IN_FLIGHT);
        Thread progress = new Thread(() -> {
            try {
                while (true) {
                    Thread.sleep(10_000);
                    double s = (System.nanoTime() - start) / 1e9;
                    out.printf("  seeding: %,d blobs (%,d bytes), %,d action results in %.0f s: %,.0f blobs/s%n",
                            blobs.get(), bytes.get(), results.get(), s, blobs.get() / s);
                }
            } catch (InterruptedException e) {
                // done
            }
        }, "seed-progress");
        progress.setDaemon(true);
        progress.start();
        try {
            List<Future<?>> pending = new ArrayList<>();
            BatchUpdateBlobsRequest.Builder batch = BatchUpdateBlobsRequest.newBuilder();
            long batchBytes = 0;
            for (int id = 0; id < w.blobCount(); id++) {
                if (!w.isUploaded(id)) {
                    continue;
                }
                byte[] data = w.blobContent(id);
                batchBytes = add(batch, batchBytes, w.blobDigest(id), ByteString.copyFrom(data), pending, pool, cas,
                        blobs, bytes);
            }
            for (Workload.Action a : w.actions()) {
                if (a.treeDigest() != null) {
                    batchBytes = add(batch, batchBytes, a.treeDigest(), w.treeBytes(a.treeFileBlobs()), pending, pool,
                            cas, blobs, bytes);
                }
            }
            if (batch.getRequestsCount() > 0) {
                BatchUpdateBlobsRequest req = batch.build();
                pending.add(pool.submit(() -> upload(cas, req, blobs, bytes)));
            }
            drain(pending, 0);
            for (Workload.Action a : w.actions()) {
                if (a.verdict() == Workload.Verdict.MISS) {
                    continue;
                }
                UpdateActionResultRequest req = UpdateActionResultRequest.newBuilder().setActionDigest(a.digest())
                        .setActionResult(w.actionResult(a)).build();
                pending.add(pool.submit(() -> {
                    ac.updateActionResult(req);
                    results.incrementAndGet();
                    return null;
                }));
                drain(pending, IN_FLIGHT * 4);
            }
            drain(pending, 0);
        } finally {
            progress.interrupt();
            pool.shutdownNow();
            pool.awaitTermination(10, TimeUnit.SECONDS);
        }
        double s = (System.nanoTime() - start) / 1e9;
        out.printf("  seeded %,d blobs (%,d bytes) and %,d action results in %.1f s: %,.0f blobs/s%n", blobs.get(),
                bytes.get(), results.get(), s, blobs.get() / s);
        return new Seeded(blobs.get(), bytes.get(), results.get(), s);
    }

    private static long add(BatchUpdateBlobsRequest.Builder batch, long batchBytes, Digest d, ByteString data,
            List<Future<?>> pending, ExecutorService pool, ContentAddressableStorageGrpc.ContentAddressableStorageBlockingStub cas,
            AtomicLong blobs, AtomicLong bytes) throws Exception {
        if (batch.getRequestsCount() > 0
                && (batchBytes + data.size() > MAX_BATCH_BYTES || batch.getRequestsCount() >= MAX_BATCH_BLOBS)) {
            BatchUpdateBlobsRequest req = batch.build();
            pending.add(pool.submit(() -> upload(cas, req, blobs, bytes)));
            drain(pending, IN_FLIGHT * 2);
            batch.clear();
            batchBytes = 0;
        }
        batch.addRequests(BatchUpdateBlobsRequest.Request.newBuilder().setDigest(d).setData(data));
        return batchBytes + data.size() + 100;
    }

    private static Void upload(ContentAddressableStorageGrpc.ContentAddressableStorageBlockingStub cas,
            BatchUpdateBlobsRequest req, AtomicLong blobs, AtomicLong bytes) {
        BatchUpdateBlobsResponse r = cas.batchUpdateBlobs(req);
        for (BatchUpdateBlobsResponse.Response one : r.getResponsesList()) {
            if (one.getStatus().getCode() != 0) {
                throw new IllegalStateException("BatchUpdateBlobs refused " + one.getDigest().getHash() + ": "
                        + one.getStatus().getMessage());
            }
        }
        blobs.addAndGet(req.getRequestsCount());
        for (BatchUpdateBlobsRequest.Request one : req.getRequestsList()) {
            bytes.addAndGet(one.getData().size());
        }
        return null;
    }

    /** Waits until at most {@code keep} submitted calls are unfinished, rethrowing the first failure. */
    private static void drain(List<Future<?>> pending, int keep) throws Exception {
        while (pending.size() > keep) {
            pending.remove(0).get();
        }
    }
}
