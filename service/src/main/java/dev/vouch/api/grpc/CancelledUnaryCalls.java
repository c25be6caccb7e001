package dev.vouch.api.grpc;

import io.grpc.ForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;

/**
 * Ends a unary call that was cancelled before its response went out with CANCELLED, never with
 * "Completed without a response". reactor-grpc's unary adapter, when the call is cancelled (its
 * deadline passes) while the service's answer is on its way, drops the answer and completes the
 * call anyway; grpc-java then sees a unary call closed OK without a message, turns it into
 * INTERNAL and logs it with a stack trace. The call is gone at that point, so CANCELLED is what
 * happened. A call closed OK without a message that was not cancelled is a defect and stays INTERNAL.
 */
final class CancelledUnaryCalls implements ServerInterceptor {

    @Override
    public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers,
            ServerCallHandler<Q, R> next) {
        if (!call.getMethodDescriptor().getType().serverSendsOneMessage()) {
            return next.startCall(call, headers);
        }
        return next.startCall(new ForwardingServerCall.SimpleForwardingServerCall<>(call) {
            private volatile boolean messageSent;

            @Override
            public void sendMessage(R message) {
                messageSent = true;
                super.sendMessage(message);
            }

            @Override
            public void close(Status status, Metadata trailers) {
                if (status.isOk() && !messageSent && isCancelled()) {
                    super.close(Status.CANCELLED.withDescription("call cancelled before its response was sent"), trailers);
                    return;
                }
                super.close(status, trailers);
            }
        }, headers);
    }
}
