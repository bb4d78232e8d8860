/// Why a node could not join or keep working with the cluster. Each case names the peer (role,
/// rank, address) and says what to do.
public enum ClusterError: Error, CustomStringConvertible, Equatable, Sendable {
    /// SIGINT/SIGTERM arrived while waiting.
    case interrupted
    /// This node registered but the scheduler did not send its roster in time.
    case registrationTimedOut(scheduler: String, seconds: Double)
    /// The scheduler's deadline passed before every node registered (`missingWorkerRanks`: the
    /// ranks no worker asked for, when the workers ask for ranks).
    case clusterIncomplete(servers: Int, expectedServers: Int, workers: Int, expectedWorkers: Int, seconds: Double,
                           missingWorkerRanks: [Int] = [])
    /// The scheduler refused this node's registration.
    case registrationRejected(scheduler: String, reason: String)
    /// A server answered one of this worker's requests with an error.
    case requestFailed(server: Int, endpoint: String, request: String, reason: String)
    /// A server reported that the job failed (a dead worker, a timed-out round).
    case jobFailed(server: Int, endpoint: String, reason: String)
    /// A server sent nothing — no reply, no heartbeat — for longer than the heartbeat timeout.
    case serverSilent(server: Int, endpoint: String, seconds: Double)
    /// A server answers heartbeats but not this request: it is alive but the request is stuck
    /// (typically a sync round waiting for a stuck worker).
    case requestTimedOut(server: Int, endpoint: String, request: String, seconds: Double)
    /// A server sent a reply matching no outstanding request of this worker.
    case unexpectedReply(server: Int, endpoint: String, reply: String)
    /// A server sent frames that do not decode.
    case malformedReply(server: Int, endpoint: String, error: WireError)

    public var description: String {
        switch self {
        case .interrupted:
            return "interrupted by a signal"
        case let .registrationTimedOut(scheduler, s):
            return "no roster from the scheduler at \(scheduler) after \(Int(s)) s: check that the scheduler runs, that "
                + "DMLC_NUM_SERVER/DMLC_NUM_WORKER match the processes started, or raise PS_REGISTRATION_TIMEOUT"
        case let .clusterIncomplete(s, es, w, ew, seconds, missing):
            let which = missing.isEmpty ? "" : " (missing: worker rank \(missing.map(String.init).joined(separator: ", ")))"
            return "cluster incomplete after \(Int(seconds)) s: \(s)/\(es) server(s) and \(w)/\(ew) worker(s) registered\(which); "
                + "start the missing nodes or raise PS_REGISTRATION_TIMEOUT"
        case let .registrationRejected(scheduler, reason):
            return "the scheduler at \(scheduler) rejected this node: \(reason)"
        case let .requestFailed(server, endpoint, request, reason):
            return "server \(server) at \(endpoint) refused \(request): \(reason)"
        case let .jobFailed(server, endpoint, reason):
            return "server \(server) at \(endpoint) stopped the job: \(reason)"
        case let .serverSilent(server, endpoint, s):
            return "server \(server) at \(endpoint) stopped answering for \(Int(s)) s (no reply, no heartbeat): it is presumed "
                + "dead; check its log, then restart the job with --resume MODEL_DIR to continue from the last checkpoint"
        case let .requestTimedOut(server, endpoint, request, s):
            return "server \(server) at \(endpoint) is alive but has not answered \(request) for \(Int(s)) s: another worker "
                + "is probably stuck; check the workers' logs, or raise PS_REQUEST_TIMEOUT for long pauses"
        case let .unexpectedReply(server, endpoint, reply):
            return "server \(server) at \(endpoint) sent \(reply), which answers no outstanding request: run the same release on every node"
        case let .malformedReply(server, endpoint, error):
            return "server \(server) at \(endpoint) sent a malformed message: \(error)"
        }
    }
}
