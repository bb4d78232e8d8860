import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Hummingbird
import Logging
import MetricsHTTP
import Prometheus
import Testing

/// The metrics endpoint on 127.0.0.1, spoken to by Foundation's HTTP client. `MetricsServer`'s
/// API blocks its caller (for the synchronous executables), so the tests call it from a thread
/// of their own, never from a Swift concurrency thread the server itself needs.
@Suite("Metrics endpoint over HTTP", .serialized)
struct MetricsServerTests {
    static let logger = Logger(label: "metrics-test")

    /// Runs `body` on a new thread and returns its result.
    func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    func start(_ registry: PrometheusCollectorRegistry, port: Int = 0) async throws -> MetricsServer {
        try await onThread { try MetricsServer.start(registry: registry, host: "127.0.0.1", port: port, logger: Self.logger) }
    }

    /// Stops `server`; the deadline is generous because the graceful shutdown of Hummingbird and
    /// ServiceLifecycle hops through Swift concurrency's shared pool, which other tests of a full
    /// run may keep busy for minutes (the executables' default is 5 s).
    func stop(_ server: MetricsServer) async throws -> Bool {
        try await onThread { server.stop(deadline: .seconds(120)) }
    }

    func get(_ url: String) async throws -> (status: Int, body: String, contentType: String?) {
        var request = URLRequest(url: URL(string: url)!)
        request.timeoutInterval = 30
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, String(decoding: data, as: UTF8.self), http.value(forHTTPHeaderField: "Content-Type"))
    }

    @Test("GET /metrics answers the registry in Prometheus text; after stop the port is free again")
    func servesRegistry() async throws {
        let registry = PrometheusCollectorRegistry()
        let counter = registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "demo", metricName: "things", unitName: "total",
                                                                            helpText: "Things counted"))
        counter.increment(by: Int64(3))
        let server = try await start(registry)
        #expect(server.port > 0)
        let first = try await get("http://127.0.0.1:\(server.port)/metrics")
        #expect(first.status == 200)
        #expect(first.contentType == "text/plain; version=0.0.4; charset=utf-8")
        #expect(first.body.contains("# HELP demo_things_total Things counted\n# TYPE demo_things_total counter\ndemo_things_total 3\n"), "\(first.body)")
        counter.increment()
        #expect(try await get("http://127.0.0.1:\(server.port)/metrics").body.contains("demo_things_total 4\n"))  // live values
        #expect(try await get("http://127.0.0.1:\(server.port)/other").status == 404)
        #expect(try await stop(server))
        // The same port can be served again once stopped.
        let again = try await start(PrometheusCollectorRegistry(), port: server.port)
        #expect(again.port == server.port)
        #expect(try await stop(again))
    }

    @Test("a port another server holds is addressInUse, and the message says to choose another")
    func portInUse() async throws {
        let holder = try await start(PrometheusCollectorRegistry())
        let port = holder.port
        do {
            _ = try await start(PrometheusCollectorRegistry(), port: port)
            Issue.record("a second server started on port \(port)")
        } catch let error as MetricsHTTPError {
            #expect(error == .addressInUse(host: "127.0.0.1", port: port))
            #expect("\(error)".contains("127.0.0.1:\(port)") && "\(error)".contains("already in use") && "\(error)".contains("choose another port"))
        }
        // The holder still serves.
        #expect(try await get("http://127.0.0.1:\(port)/metrics").status == 200)
        #expect(try await stop(holder))
    }

    @Test("an endpoint shut down before it runs stops as soon as it runs")
    func shutdownBeforeRun() async throws {
        let endpoint = HTTPEndpoint(host: "127.0.0.1", port: 0, serverName: "test", logger: Self.logger)
        await endpoint.shutdown()
        let run = Task { try await endpoint.run(router: Router()) }
        let watchdog = Task { () -> Bool in
            guard (try? await Task.sleep(for: .seconds(120))) != nil else { return false }
            run.cancel()
            return true
        }
        try await run.value
        watchdog.cancel()
        #expect(await watchdog.value == false, "the endpoint ran until the 120 s watchdog cancelled it")
    }
}
