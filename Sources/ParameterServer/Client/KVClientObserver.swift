/// What a worker's `KVClient` reports while it exchanges with the servers, for monitoring (the
/// Prometheus metrics of `ClusterMetrics`, served on `worker --metrics-port`). Hooks only: the
/// client calls these on its own thread as things happen; an observer must return quickly.
public protocol KVClientObserver: AnyObject {
    /// Values left for a server: `bytes` of payload of an init, push or pushPull request.
    func pushed(bytes: Int)
    /// A server answered a request `seconds` after it was sent; `pulledBytes` of weights came
    /// with the answer (0 for an acknowledgement or an error).
    func answered(seconds: Double, pulledBytes: Int)
    /// A server was found dead: silent past the heartbeat timeout.
    func serverSilent(_ server: Int)
}
