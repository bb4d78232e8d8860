import Foundation

/// A flag raised from a signal handler and read by loops (thread-safe).
public final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false

    public init() {}

    /// Whether a stop was requested.
    public var isRaised: Bool { lock.lock(); defer { lock.unlock() }; return raised }

    /// Requests a stop.
    public func raise() { lock.lock(); raised = true; lock.unlock() }

    /// Raises this flag on SIGINT and SIGTERM (keep the returned sources alive).
    public func installSignalHandlers() -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in self?.raise() }
            source.resume()
            return source
        }
    }
}
