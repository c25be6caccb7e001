package dev.vouch.e2e;

import build.bazel.remote.execution.v2.GetActionResultRequest;
import build.bazel.remote.execution.v2.UpdateActionResultRequest;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.UnknownFieldSet;
import dev.vouch.digest.Digest;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Reads the action digests out of Bazel's {@code --experimental_remote_grpc_log}: a stream of
 * length-delimited {@code remote_logging.LogEntry} messages. Only the few fields needed are decoded,
 * by number, so the project carries no copy of Bazel's logging protos: LogEntry.details = 4;
 * RpcCallDetails.get_action_result = 8 and update_action_result = 13; in both, request = 1, and
 * the request's action_digest is a field of the REAPI request messages we already have.
 */
final class BazelGrpcLog {
    private static final int LOG_ENTRY_DETAILS = 4;
    private static final int DETAILS_GET_ACTION_RESULT = 8;
    private static final int DETAILS_UPDATE_ACTION_RESULT = 13;
    private static final int CALL_REQUEST = 1;

    private BazelGrpcLog() {
    }

    static Set<Digest> actionDigests(Path log) throws IOException {
        Set<Digest> digests = new LinkedHashSet<>();
        try (InputStream in = Files.newInputStream(log)) {
            CodedInputStream coded = CodedInputStream.newInstance(in);
            while (!coded.isAtEnd()) {
                UnknownFieldSet entry = UnknownFieldSet.parseFrom(coded.readBytes());
                for (ByteString details : lengthDelimited(entry, LOG_ENTRY_DETAILS)) {
                    UnknownFieldSet call = UnknownFieldSet.parseFrom(details);
                    for (ByteString get : lengthDelimited(call, DETAILS_GET_ACTION_RESULT)) {
                        for (ByteString request : lengthDelimited(UnknownFieldSet.parseFrom(get), CALL_REQUEST)) {
                            digests.add(Digest.fromProto(GetActionResultRequest.parseFrom(request).getActionDigest()));
                        }
                    }
                    for (ByteString update : lengthDelimited(call, DETAILS_UPDATE_ACTION_RESULT)) {
                        for (ByteString request : lengthDelimited(UnknownFieldSet.parseFrom(update), CALL_REQUEST)) {
                            digests.add(Digest.fromProto(UpdateActionResultRequest.parseFrom(request).getActionDigest()));
                        }
                    }
                }
            }
        }
        return digests;
    }

    private static List<ByteString> lengthDelimited(UnknownFieldSet set, int number) {
        return set.hasField(number) ? set.getField(number).getLengthDelimitedList() : List.of();
    }
}
