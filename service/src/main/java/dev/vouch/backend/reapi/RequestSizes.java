package dev.vouch.backend.reapi;

import build.bazel.remote.execution.v2.BatchReadBlobsRequest;
import build.bazel.remote.execution.v2.BatchUpdateBlobsRequest;
import build.bazel.remote.execution.v2.FindMissingBlobsRequest;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.UnsafeByteOperations;
import dev.vouch.backend.BlobData;
import dev.vouch.digest.Digest;
import java.util.ArrayList;
import java.util.List;

/** Fits REAPI batch requests into a server's advertised {@code max_batch_total_size_bytes}. */
final class RequestSizes {
    /** Digests per FindMissingBlobs call: bb-storage's 10,000 keeps a message near 700 KB. */
    static final int MAX_DIGESTS_PER_CALL = 10_000;
    // a batch-read answer carries a google.rpc.Status per blob; an OK one is empty, others carry a short message
    private static final int STATUS_ALLOWANCE = 256;

    private RequestSizes() {
    }

    /**
     * Splits {@code digests} into requests built on {@code base} (instance name, digest function),
     * each with at most {@link #MAX_DIGESTS_PER_CALL} digests and, when {@code maxBytes > 0}, at
     * most {@code maxBytes} serialized. The sizes are exact: a repeated message field costs its tag,
     * its length and its bytes per element, which is what {@code computeMessageSize} counts. A
     * digest that alone exceeds the limit still goes, in a call of its own.
     */
    static List<FindMissingBlobsRequest> findMissing(FindMissingBlobsRequest base, Iterable<Digest> digests,
            long maxBytes) {
        List<FindMissingBlobsRequest> requests = new ArrayList<>();
        long baseSize = base.getSerializedSize();
        FindMissingBlobsRequest.Builder current = base.toBuilder();
        long size = baseSize;
        for (Digest digest : digests) {
            build.bazel.remote.execution.v2.Digest proto = digest.toProto();
            int entry = CodedOutputStream.computeMessageSize(FindMissingBlobsRequest.BLOB_DIGESTS_FIELD_NUMBER, proto);
            int count = current.getBlobDigestsCount();
            if (count > 0 && (count == MAX_DIGESTS_PER_CALL || maxBytes > 0 && size + entry > maxBytes)) {
                requests.add(current.build());
                current = base.toBuilder();
                size = baseSize;
            }
            current.addBlobDigests(proto);
            size += entry;
        }
        if (current.getBlobDigestsCount() > 0) {
            requests.add(current.build());
        }
        return requests;
    }

    /**
     * Splits {@code blobs} into BatchUpdateBlobs requests built on {@code base}, each at most
     * {@code maxBytes} serialized. The blobs that do not fit a request on
     * their own are returned apart, in {@code tooLarge}, for ByteStream.Write.
     */
    static List<BatchUpdateBlobsRequest> batchUpdate(BatchUpdateBlobsRequest base, List<BlobData> blobs, long maxBytes,
            List<BlobData> tooLarge) {
        List<BatchUpdateBlobsRequest> requests = new ArrayList<>();
        long baseSize = base.getSerializedSize();
        BatchUpdateBlobsRequest.Builder current = base.toBuilder();
        long size = baseSize;
        for (BlobData blob : blobs) {
            BatchUpdateBlobsRequest.Request entry = BatchUpdateBlobsRequest.Request.newBuilder()
                    .setDigest(blob.digest().toProto())
                    .setData(UnsafeByteOperations.unsafeWrap(blob.bytes()))
                    .build();
            int entrySize = CodedOutputStream.computeMessageSize(BatchUpdateBlobsRequest.REQUESTS_FIELD_NUMBER, entry);
            if (baseSize + entrySize > maxBytes) {
                tooLarge.add(blob);
                continue;
            }
            if (current.getRequestsCount() > 0 && size + entrySize > maxBytes) {
                requests.add(current.build());
                current = base.toBuilder();
                size = baseSize;
            }
            current.addRequests(entry);
            size += entrySize;
        }
        if (current.getRequestsCount() > 0) {
            requests.add(current.build());
        }
        return requests;
    }

    /** Whether both the BatchReadBlobs request for {@code request}'s one blob and its answer fit {@code limit}. */
    static boolean batchReadFits(BatchReadBlobsRequest request, Digest digest, long limit) {
        return request.getSerializedSize() <= limit && batchReadResponseSize(digest) <= limit;
    }

    /** An upper bound of the serialized BatchReadBlobsResponse carrying {@code digest}'s blob. */
    static long batchReadResponseSize(Digest digest) {
        long data = CodedOutputStream.computeTagSize(2) + CodedOutputStream.computeUInt64SizeNoTag(digest.sizeBytes())
                + digest.sizeBytes();
        long entry = CodedOutputStream.computeMessageSize(1, digest.toProto()) + data + STATUS_ALLOWANCE;
        return CodedOutputStream.computeTagSize(1) + CodedOutputStream.computeUInt64SizeNoTag(entry) + entry;
    }
}
