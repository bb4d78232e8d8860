/// Command-line overrides of the cluster environment, shared by `param-server`, `worker` and
/// the tools: each maps to the environment variable it overrides.
public struct ClusterFlags: Sendable {
    public var role: String?
    public var rootURI: String?
    public var rootPort: String?
    public var numServers: String?
    public var numWorkers: String?
    public var host: String?
    public var port: String?
    public var rank: String?
    public var heartbeatTimeout: String?
    public var roundTimeout: String?
    public var registrationTimeout: String?
    public var requestTimeout: String?
    public var nonFiniteGradients: String?
    /// Directory of the cluster's CURVE keys (`--secure DIR`).
    public var secure: String?

    public init() {}

    /// The flags as environment-variable overrides for `ClusterConfig.resolve`.
    public var asEnvironment: [String: String] {
        var e: [String: String] = [:]
        e["DMLC_ROLE"] = role
        e["DMLC_PS_ROOT_URI"] = rootURI
        e["DMLC_PS_ROOT_PORT"] = rootPort
        e["DMLC_NUM_SERVER"] = numServers
        e["DMLC_NUM_WORKER"] = numWorkers
        e["DMLC_NODE_HOST"] = host
        e["DMLC_PORT"] = port
        e["DMLC_WORKER_ID"] = rank
        e["PS_HEARTBEAT_TIMEOUT"] = heartbeatTimeout
        e["PS_ROUND_TIMEOUT"] = roundTimeout
        e["PS_REGISTRATION_TIMEOUT"] = registrationTimeout
        e["PS_REQUEST_TIMEOUT"] = requestTimeout
        e["PS_NON_FINITE_GRADIENTS"] = nonFiniteGradients
        e["PS_SECURE_DIR"] = secure
        return e
    }
}
