import Foundation
import Prometheus

/// The server's Prometheus metrics (`GET /metrics`, text exposition format):
///
/// - `ssd_requests_total{path, status}`: answered requests
/// - `ssd_request_errors_total{reason}`: failed invocations by cause (content_type, too_large,
///   not_an_image, corrupt_image, empty, accept, model, internal)
/// - `ssd_request_duration_seconds`: invocation latency histogram (receipt to answer)
/// - `ssd_batch_size`: images per forward pass; `ssd_batch_duration_seconds`: its time
/// - `ssd_model_loaded`: 1 once the model is ready
public final class ServerMetrics: Sendable {
    /// Every metric, served at `GET /metrics` (`Router.addMetrics`).
    let registry = PrometheusCollectorRegistry()
    private let latency: DurationHistogram
    private let batchSize: ValueHistogram
    private let batchDuration: DurationHistogram
    private let loaded: Gauge

    public init() {
        let seconds: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10].map { .milliseconds(Int64($0 * 1000)) }
        latency = registry.makeDurationHistogram(descriptor: Self.name("request_duration", "seconds", "Time from receiving an invocation to answering it"),
                                                 buckets: seconds)
        batchSize = registry.makeValueHistogram(descriptor: Self.name("batch", "size", "Images per forward pass"),
                                                buckets: [1, 2, 4, 8, 16, 32, 64])
        batchDuration = registry.makeDurationHistogram(descriptor: Self.name("batch_duration", "seconds", "Time of one batched forward pass"),
                                                       buckets: seconds)
        loaded = registry.makeGauge(descriptor: Self.name("model", "loaded", "1 once the model is loaded"))
    }

    /// `ssd_<metric>_<unit>`.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ssd", metricName: metric, unitName: unit, helpText: help)
    }

    func request(path: String, status: Int, seconds: Double?) {
        registry.makeCounter(descriptor: Self.name("requests", "total", "Answered requests by path and status"),
                             labels: [("path", path), ("status", "\(status)")]).increment()
        if let seconds { latency.recordNanoseconds(Int64(seconds * 1e9)) }
    }

    func error(reason: String) {
        registry.makeCounter(descriptor: Self.name("request_errors", "total", "Failed invocations by cause"),
                             labels: [("reason", reason)]).increment()
    }

    func batch(size: Int, seconds: Double) {
        batchSize.record(Double(size))
        batchDuration.recordNanoseconds(Int64(seconds * 1e9))
    }

    func modelLoaded() { loaded.set(to: 1.0) }
}
