/// What a server reports while it serves, for monitoring (the Prometheus metrics of
/// `ClusterMetrics`, served on `param-server --metrics-port`). Hooks only: the server calls
/// these from its one serving thread as things happen and keeps no figures for them; an
/// observer must return quickly.
public protocol KVServerObserver: AnyObject {
    /// A message of `bytes` (header and payload) arrived from a worker.
    func received(bytes: Int)
    /// A message of `bytes` (header and payload) left for a worker.
    func sent(bytes: Int)
    /// A slice completed round `round` (its rounds so far). dist_sync: every worker pushed and
    /// the update was applied, `seconds` after the round's first push; dist_async: one push was
    /// applied on arrival (`seconds` nil: nothing waited).
    func roundCompleted(round: UInt64, seconds: Double?)
    /// A push or pushPull was answered with an error (the weights are unchanged).
    func pushRejected(_ reason: PushRejection)
    /// Distinct workers heard from so far.
    func workersRegistered(_ count: Int)
    /// Worker `rank` was declared dead (silent past the heartbeat timeout).
    func workerDead(rank: Int32)
}

/// Why a server refused a push (the `reason` label of `ps_server_pushes_rejected_total`).
public enum PushRejection: String, CaseIterable, Sendable {
    /// The connection may not speak for the rank it claims, or the rank is out of range.
    case notAdmitted = "not_admitted"
    /// Before worker 0 sent the setup.
    case notConfigured = "not_configured"
    /// A key or slice this server does not hold.
    case unknownKey = "unknown_key"
    /// Before the slice's initial value.
    case uninitialized
    /// Not the slice's number of values.
    case wrongSize = "wrong_size"
    /// Encoded otherwise than the gradient compression the cluster agreed at start-up.
    case wrongEncoding = "wrong_encoding"
    /// A NaN or ±Inf in the gradient (with `PS_NON_FINITE_GRADIENTS=reject`).
    case nonFinite = "non_finite"
    /// For another round than the slice's current one (dist_sync).
    case wrongRound = "wrong_round"
    /// A second push of one worker in one round (dist_sync).
    case duplicate
    /// The optimizer refused the update.
    case optimizer
    /// The payload failed its checksum (corrupted in transit), found in the pass that sums it.
    case checksum
}
