import Foundation
import Logging
import MetricsHTTP
import ParameterServer
import Prometheus

/// A process's metrics port: `GET /metrics` of `registry` from `open` (before the process's
/// work, so a port in use stops it before anything started) until `close` (after its work:
/// first the linger, then a stop by a deadline).
public final class MetricsPort {
    /// Where and how long it serves.
    public let settings: MetricsPortSettings
    /// The endpoint (its `port` is the one bound).
    public let server: MetricsServer
    let logger: Logger

    private init(settings: MetricsPortSettings, server: MetricsServer, logger: Logger) {
        self.settings = settings; self.server = server; self.logger = logger
    }

    /// Starts serving `registry` as `settings` say; logs the address (with the port chosen for port 0).
    public static func open(_ settings: MetricsPortSettings, registry: PrometheusCollectorRegistry,
                            logger: Logger) throws(MetricsHTTPError) -> MetricsPort {
        let server = try MetricsServer.start(registry: registry, host: settings.host, port: settings.port, logger: logger)
        logger.info("metrics: http://\(settings.host):\(server.port)/metrics")
        return MetricsPort(settings: settings, server: server, logger: logger)
    }

    /// Keeps serving the final values for `settings.linger` seconds — ended early when `stop` is
    /// raised, or, without one, by SIGINT/SIGTERM — then stops serving.
    public func close(stop: StopFlag? = nil) {
        if settings.linger > 0 {
            let flag = stop ?? StopFlag()
            let signals = stop == nil ? flag.installSignalHandlers() : []
            defer { signals.forEach { $0.cancel() } }
            logger.info("metrics: serving the final values for \(settings.linger) s more (SIGINT/SIGTERM ends this)")
            let end = Date(timeIntervalSinceNow: settings.linger)
            while !flag.isRaised, Date() < end { Thread.sleep(forTimeInterval: min(0.1, max(0, end.timeIntervalSinceNow))) }
        }
        if !server.stop() { logger.warning("metrics: the endpoint did not stop within 5 s; exiting anyway") }
    }
}

extension MetricsPort {
    /// A parameter server's metrics port as `settings` say, with the metrics its `KVServer` feeds;
    /// nil without settings and for the scheduler (a rendezvous only: nothing to measure).
    public static func openForServer(_ settings: MetricsPortSettings?, role: Role,
                                     logger: Logger) throws(MetricsHTTPError) -> (port: MetricsPort, metrics: ParameterServerMetrics)? {
        guard let settings, role == .server else { return nil }
        let metrics = ParameterServerMetrics()
        return (try open(settings, registry: metrics.registry, logger: logger), metrics)
    }
}
