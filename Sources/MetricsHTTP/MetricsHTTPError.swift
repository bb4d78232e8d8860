/// Why an HTTP endpoint (a metrics port, `ssd serve`) does not serve.
public enum MetricsHTTPError: Error, Equatable, CustomStringConvertible {
    /// Another process holds the port.
    case addressInUse(host: String, port: Int)
    /// The address cannot be listened on (an unknown host, a port that needs privileges, …).
    case cannotListen(host: String, port: Int, reason: String)
    /// Still not listening when the start's deadline passed.
    case notListening(host: String, port: Int, seconds: Double)

    public var description: String {
        switch self {
        case let .addressInUse(host, port):
            return "cannot listen on \(host):\(port): the port is already in use by another process; choose another port (0: any free port)"
        case let .cannotListen(host, port, reason):
            return "cannot listen on \(host):\(port): \(reason); check the host (0.0.0.0: every interface) and the port (1–65535, 0: any free port)"
        case let .notListening(host, port, seconds):
            return "\(host):\(port) was not listening after \(seconds) s; the machine may be overloaded — try again"
        }
    }
}
