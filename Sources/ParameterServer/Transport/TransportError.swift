/// Why a transport could not move a message. Cluster-level failures (a silent server, a
/// rejected registration) are `ClusterError`s; a caller's misuse of `KVClient` is a
/// `KVClientError`.
public enum TransportError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A ZeroMQ call failed; `reason` is ZeroMQ's errno text.
    case socket(operation: String, endpoint: String, reason: String)
    /// The peer is not connected (it left, or was never there); nothing was sent.
    case peerUnreachable(PeerID)
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
        case .closed:
            return "the transport was already closed; this is a bug in the caller"
        case .insecure(let reason):
            return reason
        }
    }
}
