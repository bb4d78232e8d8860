import ParameterServer
import Prometheus
import Training

/// A worker's Prometheus metrics, fed by the trainer's `TrainingObserver` hooks (what
/// `ProgressLog` logs) and, in a cluster, its KV client's `KVClientObserver` hooks:
///
/// - `ssd_train_steps_total`, `ssd_train_images_total`: batches and images trained on
/// - `ssd_train_images_per_second`: the latest step's speed
/// - `ssd_train_cross_entropy`, `ssd_train_smooth_l1`: the latest batch's training metric
///   (SageMaker's `train:cross_entropy`, `train:smooth_l1`); `ssd_train_epoch`: its epoch
/// - `ssd_validation_map`: the latest validation mAP (worker 0)
/// - `ssd_train_waiting_seconds_total`: time spent waiting on the parameter servers
/// - `ps_worker_round_trip_seconds`: from a request to a server to its answer
/// - `ps_worker_pushed_bytes_total`, `ps_worker_pulled_bytes_total`: values sent (gradients,
///   initial weights) and weights received
/// - `ps_worker_dead_servers_total`: servers found silent past the heartbeat timeout
public final class WorkerMetrics: TrainingObserver {
    /// Every metric above, for the metrics port.
    public let registry = PrometheusCollectorRegistry()
    private let steps: Counter
    private let images: Counter
    private let speed: Gauge
    private let crossEntropy: Gauge
    private let smoothL1: Gauge
    private let epoch: Gauge
    private let mAP: Gauge
    private let waiting: Counter
    private let roundTrip: ValueHistogram
    private let pushedBytes: Counter
    private let pulledBytes: Counter
    private let deadServers: Counter

    /// The metrics, every one at 0.
    public init() {
        steps = registry.makeCounter(descriptor: Self.train("steps", "total", "Training steps (batches) done"))
        images = registry.makeCounter(descriptor: Self.train("images", "total", "Images trained on"))
        speed = registry.makeGauge(descriptor: Self.train("images", "per_second", "Images per second of the latest step"))
        crossEntropy = registry.makeGauge(descriptor: Self.train("cross_entropy", "", "Training cross-entropy of the latest batch (SageMaker's train:cross_entropy)"))
        smoothL1 = registry.makeGauge(descriptor: Self.train("smooth_l1", "", "Training smooth L1 of the latest batch (SageMaker's train:smooth_l1)"))
        epoch = registry.makeGauge(descriptor: Self.train("epoch", "", "Epoch of the latest batch (0-based)"))
        mAP = registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "ssd", subsystem: "validation", metricName: "map", unitName: "",
                                                                  helpText: "Latest validation mAP (worker 0 validates)"))
        waiting = registry.makeCounter(descriptor: Self.train("waiting", "seconds_total", "Seconds spent waiting on the parameter servers"))
        roundTrip = registry.makeValueHistogram(descriptor: Self.exchange("round_trip", "seconds", "Time from a request to a parameter server to its answer"),
                                                buckets: latencyBuckets)
        pushedBytes = registry.makeCounter(descriptor: Self.exchange("pushed", "bytes_total", "Bytes of values sent to the servers (gradients, initial weights)"))
        pulledBytes = registry.makeCounter(descriptor: Self.exchange("pulled", "bytes_total", "Bytes of weights received from the servers"))
        deadServers = registry.makeCounter(descriptor: Self.exchange("dead_servers", "total", "Servers found silent past the heartbeat timeout"))
    }

    /// `ssd_train_<metric>_<unit>`.
    static func train(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ssd", subsystem: "train", metricName: metric, unitName: unit, helpText: help)
    }

    /// `ps_worker_<metric>_<unit>`.
    static func exchange(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ps", subsystem: "worker", metricName: metric, unitName: unit, helpText: help)
    }

    public func batchFinished(epoch e: Int, images count: Int, imagesPerSecond: Double, crossEntropy ce: Double, smoothL1 l1: Double) {
        steps.increment()
        images.increment(by: Int64(count))
        speed.set(imagesPerSecond)
        crossEntropy.set(ce)
        smoothL1.set(l1)
        epoch.set(Double(e))
    }

    public func waited(seconds: Double) { waiting.increment(by: seconds) }
    public func validated(epoch: Int, mAP value: Double) { mAP.set(value) }

    public func pushed(bytes: Int) { pushedBytes.increment(by: Int64(bytes)) }

    public func answered(seconds: Double, pulledBytes bytes: Int) {
        roundTrip.record(seconds)
        pulledBytes.increment(by: Int64(bytes))
    }

    public func serverSilent(_ server: Int) { deadServers.increment() }
}
