package dev.vouch.backend;

import dev.vouch.digest.DigestFunction;

/** Where a backend call looks: the REAPI instance name and the digest function of the request. */
public record Scope(String instanceName, DigestFunction digestFunction) {
    public Scope {
        instanceName = instanceName == null ? "" : instanceName;
        if (digestFunction == null) {
            digestFunction = DigestFunction.SHA256;
        }
    }

    public static Scope of(String instanceName) {
        return new Scope(instanceName, DigestFunction.SHA256);
    }
}
