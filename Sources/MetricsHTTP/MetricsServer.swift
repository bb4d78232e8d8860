import Foundation
import Hummingbird
import Logging
import Prometheus

/// `GET /metrics` — `registry` as Prometheus text — on `host:port`, for programs that are not
/// async: `param-server` and `worker` start it before their work and stop it at the end. It runs
/// on a thread of its own (`DedicatedTasks`) and SwiftNIO's, never on the caller's, and both
/// `start` and `stop` return by a deadline.
public final class MetricsServer: Sendable {
    /// The address it listens on.
    public let host: String
    /// The port it listens on (the one asked for, or the one chosen for port 0).
    public let port: Int
    private let endpoint: HTTPEndpoint
    private let state: ServingState
    private let tasks: DedicatedTasks

    private init(host: String, port: Int, endpoint: HTTPEndpoint, state: ServingState, tasks: DedicatedTasks) {
        self.host = host; self.port = port; self.endpoint = endpoint; self.state = state; self.tasks = tasks
    }

    /// Starts serving and returns once it listens; throws `.addressInUse` when another process
    /// holds the port, `.cannotListen` for an address that cannot be bound, `.notListening`
    /// when it did not listen within `deadline`.
    public static func start(registry: PrometheusCollectorRegistry, host: String, port: Int, logger: Logger,
                             deadline: Duration = .seconds(10)) throws(MetricsHTTPError) -> MetricsServer {
        let endpoint = HTTPEndpoint(host: host, port: port, serverName: "metrics", logger: logger)
        let state = ServingState()
        let tasks = DedicatedTasks(name: "metrics")  // Linux keeps 15 characters of a thread name
        tasks.start {
            let router = Router()
            router.addMetrics(registry)
            do {
                try await endpoint.run(router: router) { state.listening(on: $0) }
                state.ended(nil)
            } catch {
                if state.isListening { logger.error("the metrics endpoint \(host):\(port) stopped: \(error)") }
                state.ended(error)
            }
        }
        switch state.wait(for: deadline, until: { $0 != .starting }) {
        case .listening(let bound):
            return MetricsServer(host: host, port: bound, endpoint: endpoint, state: state, tasks: tasks)
        case .ended(.some(let error as MetricsHTTPError)):
            throw error
        case .ended(let error):
            throw .cannotListen(host: host, port: port, reason: error.map { "\($0)" } ?? "the server stopped before it listened")
        case .starting:
            tasks.start { await endpoint.shutdown() }
            throw .notListening(host: host, port: port, seconds: Double(deadline.components.seconds))
        }
    }

    /// Stops serving (a scrape in flight is answered); false when it had not stopped within `deadline`.
    @discardableResult
    public func stop(deadline: Duration = .seconds(5)) -> Bool {
        let endpoint = self.endpoint
        tasks.start { await endpoint.shutdown() }
        if case .ended = state.wait(for: deadline, until: { if case .ended = $0 { true } else { false } }) { return true }
        return false
    }
}

/// Starting → listening → ended, as the serving task reports it; waited on by the caller's thread.
private final class ServingState: @unchecked Sendable {
    enum Phase: Equatable {
        case starting, listening(Int), ended(Error?)

        static func == (a: Phase, b: Phase) -> Bool {
            switch (a, b) {
            case (.starting, .starting): true
            case let (.listening(x), .listening(y)): x == y
            case (.ended, .ended): true
            default: false
            }
        }
    }

    private let condition = NSCondition()
    private var phase = Phase.starting

    var isListening: Bool {
        condition.lock(); defer { condition.unlock() }
        if case .listening = phase { return true }
        return false
    }

    func listening(on port: Int) { change { if case .starting = $0 { $0 = .listening(port) } } }
    func ended(_ error: Error?) { change { $0 = .ended(error) } }

    /// The phase once `done` holds for it, or as it stands when `deadline` passed.
    func wait(for deadline: Duration, until done: (Phase) -> Bool) -> Phase {
        let limit = Date(timeIntervalSinceNow: Double(deadline.components.seconds) + Double(deadline.components.attoseconds) * 1e-18)
        condition.lock(); defer { condition.unlock() }
        while !done(phase), condition.wait(until: limit) {}
        return phase
    }

    private func change(_ body: (inout Phase) -> Void) {
        condition.lock(); body(&phase); condition.broadcast(); condition.unlock()
    }
}
