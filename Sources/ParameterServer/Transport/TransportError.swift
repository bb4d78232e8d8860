/// Why a transport could not move a message. Cluster-level failures (a silent server, a
/// rejected registration) are `ClusterError`s; a caller's misuse of `KVClient` is a
/// `KVClientError`.
public enum TransportError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A ZeroMQ call failed; `reason` is ZeroMQ's errno text.
    case socket(operation: String, endpoint: String, reason: String)
    /// The peer is not connected (it left, or was never there); nothing was sent.
    case peerUnreachable(PeerID)
    /// The peer's queue is full: it has not read what it was sent. The send waited `seconds`
    /// (0: it had already filled its queue before, so this one did not wait); nothing was sent.
    case peerNotReading(PeerID, seconds: Double)
    /// The transport was closed before this call.
    case closed
    /// A secure socket cannot be made with the keys given.
    case insecure(String)

    public var description: String {
        switch self {
        case let .socket(op, endpoint, reason):
            let at = endpoint.isEmpty ? "" : " on \(endpoint)"
            return "ZeroMQ \(op)\(at) failed: \(reason); check the address and that the port is free and reachable"
        case let .peerUnreachable(peer):
            return "peer \(peer) is not connected (it left or never joined); the message was not sent"
        case let .peerNotReading(peer, seconds):
            let waited = seconds > 0 ? "for \(seconds) s" : "already before"
            return "peer \(peer) has not read its messages: its queue stayed full \(waited) (stuck, or not reading); the message was dropped"
        case .closed:
            return "the transport was already closed; this is a bug in the caller"
        case .insecure(let reason):
            return reason
        }
    }
}
