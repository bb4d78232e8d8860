import ParameterServer
import Prometheus

/// A parameter server's Prometheus metrics, fed by its `KVServerObserver` hooks:
///
/// - `ps_server_rounds_total`: rounds completed, every slice counted — in dist_sync one per
///   slice and step (every worker pushed, the update was applied), in dist_async one per push applied
/// - `ps_server_latest_round`: the round number the latest completed round brought its slice
///   to — in dist_sync, the training steps this server has applied
/// - `ps_server_round_duration_seconds`: dist_sync, from a round's first push to its update
/// - `ps_server_received_bytes_total`, `ps_server_sent_bytes_total`: messages (header and
///   payload) from and to workers
/// - `ps_server_pushes_rejected_total{reason}`: pushes answered with an error (`PushRejection`)
/// - `ps_server_workers_registered`: workers heard from; `ps_server_dead_workers_total`:
///   workers declared dead (silent past the heartbeat timeout)
public final class ParameterServerMetrics: KVServerObserver, Sendable {
    /// Every metric above, for the metrics port.
    public let registry = PrometheusCollectorRegistry()
    private let rounds: Counter
    private let latestRound: Gauge
    private let roundDuration: ValueHistogram
    private let receivedBytes: Counter
    private let sentBytes: Counter
    private let rejected: [PushRejection: Counter]
    private let registered: Gauge
    private let dead: Counter

    /// The metrics, every one at 0.
    public init() {
        rounds = registry.makeCounter(descriptor: Self.name("rounds", "total", "Rounds completed, every slice counted: dist_sync one per slice and step, dist_async one per push applied"))
        latestRound = registry.makeGauge(descriptor: Self.name("latest", "round", "Round number of the slice that completed a round last (dist_sync: the training steps applied)"))
        roundDuration = registry.makeValueHistogram(descriptor: Self.name("round_duration", "seconds", "dist_sync: time from a round's first push to its update"),
                                                    buckets: latencyBuckets)
        receivedBytes = registry.makeCounter(descriptor: Self.name("received", "bytes_total", "Bytes of messages (header and payload) received from workers"))
        sentBytes = registry.makeCounter(descriptor: Self.name("sent", "bytes_total", "Bytes of messages (header and payload) sent to workers"))
        let rejections = Self.name("pushes_rejected", "total", "Pushes answered with an error, by reason; the weights were not changed")
        let registry = self.registry
        rejected = Dictionary(uniqueKeysWithValues: PushRejection.allCases.map {
            ($0, registry.makeCounter(descriptor: rejections, labels: [("reason", $0.rawValue)]))
        })
        registered = registry.makeGauge(descriptor: Self.name("workers", "registered", "Workers heard from"))
        dead = registry.makeCounter(descriptor: Self.name("dead_workers", "total", "Workers declared dead (silent past the heartbeat timeout)"))
    }

    /// `ps_server_<metric>_<unit>`.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ps", subsystem: "server", metricName: metric, unitName: unit, helpText: help)
    }

    public func received(bytes: Int) { receivedBytes.increment(by: Int64(bytes)) }
    public func sent(bytes: Int) { sentBytes.increment(by: Int64(bytes)) }

    public func roundCompleted(round: UInt64, seconds: Double?) {
        rounds.increment()
        latestRound.set(Double(round))
        if let seconds { roundDuration.record(seconds) }
    }

    public func pushRejected(_ reason: PushRejection) { rejected[reason]?.increment() }
    public func workersRegistered(_ count: Int) { registered.set(Double(count)) }
    public func workerDead(rank: Int32) { dead.increment() }
}

/// Buckets of the latency histograms, in seconds: a millisecond to a minute (a sync round
/// waits for the slowest worker's whole backward pass).
let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
