import Detection
import Foundation
import Logging

/// What training reports, and when (the lines themselves are `LogFormat`'s):
///
/// - every `every` batches, MXNet's Speedometer line with the example's `MultiBoxMetric`
///   accumulated since the previous line, then reset (auto-reset), and SageMaker's
///   `train cross_entropy` / `train smooth_l1` `#quality_metric` lines with the same values.
///   As in MXNet, batches count from 0, the first line comes at batch `every` (covering
///   batches 0…`every`), and speed is samples / wall-clock seconds since the previous line;
/// - at the end of an epoch, `Epoch[e] Train-CrossEntropy=…`, `…Train-SmoothL1=…` (MXNet
///   prints the metric as it stands after the last batch: the batches since the last
///   Speedometer line, that one included), `Epoch[e] Time cost=…`, SageMaker's train quality
///   lines for that same window, its `#throughput_metric` (samples / second over the epoch)
///   and `#progress_metric` (epochs done / epochs);
/// - after validation, `Epoch[e] Validation-mAP=…` and SageMaker's `validation mAP` line.
///
/// The host in SageMaker's lines comes from `SM_CURRENT_HOST` (`LogFormat.host`). On a
/// terminal a progress bar is redrawn in place as well; the lines above are logged either way.
/// The same figures go to `metrics.jsonl` in the model directory as JSON lines — rank 0's
/// file; rank r > 0 writes `metrics-rank<r>.jsonl` — appended to (`AppendOnlyFile`), so a
/// resumed run keeps the history; a record that cannot be written is an error, never dropped.
public final class ProgressLog {
    let logger: Logger
    let directory: String
    let host: String
    let now: () -> Date
    let interactive: Bool
    var metrics: AppendOnlyFile?
    /// Told every batch's and validation's figures (the metrics port; nil: nobody watches).
    var observer: (any TrainingObserver)?
    var totalEpochs = 1
    let started: Date

    // Speedometer state (MXNet's `init`, `tic`, `last_count`) and the metric since the last line.
    var window = MultiBoxMetric()
    var windowSamples = 0
    var tic: Date?
    var lastCount = 0
    /// The metric as it stood after the latest batch, before any reset: the epoch-end value.
    var epochEnd = (metric: MultiBoxMetric(), batch: 0)
    var epochSamples = 0

    /// - Parameters:
    ///   - environment: where `SM_CURRENT_HOST` is read.
    ///   - interactive: draw a progress bar (default: stderr is a terminal).
    ///   - now: the clock (tests pass their own).
    public init(directory: String, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment,
                interactive: Bool = isatty(STDERR_FILENO) != 0, now: @escaping () -> Date = Date.init) throws {
        self.logger = logger
        self.directory = directory
        self.host = LogFormat.host(environment: environment)
        self.interactive = interactive
        self.now = now
        self.started = now()
    }

    /// The JSON-lines file of `rank`, in the model directory.
    public static func metricsFileName(rank: Int) -> String { rank == 0 ? "metrics.jsonl" : "metrics-rank\(rank).jsonl" }

    /// Appends one JSON object (NaN and infinities become null) as one whole line; a write that
    /// fails (a full disk) throws and leaves the file as it was.
    func write(_ object: [String: Any]) throws {
        guard let metrics else { return }
        let clean = object.mapValues { value -> Any in
            if let d = value as? Double, !d.isFinite { return NSNull() }
            if let f = value as? Float, !f.isFinite { return NSNull() }
            return value
        }
        let data = try JSONSerialization.data(withJSONObject: clean, options: [.sortedKeys])
        try metrics.append(data + Data("\n".utf8))
    }

    func log(_ line: String) {
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }  // clear the bar first
        logger.info("\(line)")
    }

    func start(hyperparameters h: Hyperparameters, workers: Int, rank: Int, effectiveBatch: Int, parameters: Int, anchors: Int, blas: String) throws {
        totalEpochs = max(h.epochs, 1)
        metrics = try AppendOnlyFile(path: (directory as NSString).appendingPathComponent(Self.metricsFileName(rank: rank)))
        logger.info("hyperparameters: \(h.asStrings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        logger.info("worker \(rank) of \(workers); mini_batch_size \(h.miniBatchSize) per worker, effective batch \(effectiveBatch) (\(h.kvStore?.rawValue ?? "single machine")); \(parameters) parameters, \(anchors) anchors; \(blas)")
        try write(["event": "start", "rank": rank, "workers": workers, "effective_batch": effectiveBatch, "mini_batch_size": h.miniBatchSize,
               "host": host])
    }

    /// After batch `step` (1-based) of `total`: `samples` images, this batch's `metric`.
    func batch(epoch: Int, step: Int, of total: Int, samples: Int, metric: MultiBoxMetric, imagesPerSecond: Double,
               learningRate: Float, every: Int) throws {
        let count = step - 1  // MXNet's nbatch
        observer?.batchFinished(epoch: epoch, images: samples, imagesPerSecond: imagesPerSecond,
                                crossEntropy: metric.crossEntropy, smoothL1: metric.smoothL1)
        let frequent = max(1, every)
        if count == 0 || lastCount > count { tic = nil; epochSamples = 0; window = MultiBoxMetric() }  // a new epoch: fit resets the metric
        lastCount = count
        window.merge(metric)
        epochEnd = (window, count)
        epochSamples += samples
        if let tic {
            windowSamples += samples
            if count % frequent == 0 {
                let t = now()
                let speed = Double(windowSamples) / max(t.timeIntervalSince(tic), 1e-9)
                log(LogFormat.speedometer(epoch: epoch, from: count - frequent, to: count, samplesPerSecond: speed,
                                          metrics: [("CrossEntropy", window.crossEntropy), ("SmoothL1", window.smoothL1)]))
                log(LogFormat.trainQuality(host: host, epoch: epoch, batch: count, name: "cross_entropy", value: window.crossEntropy))
                log(LogFormat.trainQuality(host: host, epoch: epoch, batch: count, name: "smooth_l1", value: window.smoothL1))
                window = MultiBoxMetric()
                windowSamples = 0
                self.tic = t
            }
        } else {
            tic = now()
            windowSamples = 0
        }
        if interactive {
            let width = 30, filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "\rEpoch[%d] %@ %d/%d  %.2f img/s  CrossEntropy %.4f  SmoothL1 %.4f", epoch, bar, step, total,
                              imagesPerSecond, metric.crossEntropy, metric.smoothL1)
            FileHandle.standardError.write(Data((line + (step == total ? "\n" : "")).utf8))
        }
        try write(["epoch": epoch, "batch": count, "train:cross_entropy": metric.crossEntropy, "train:smooth_l1": metric.smoothL1,
               "valid_anchors": metric.validCount, "images_per_sec": imagesPerSecond, "lr": Double("\(learningRate)") ?? Double(learningRate),
               "time": now().timeIntervalSince(started)])
    }

    /// End of an epoch: MXNet's Train- and Time cost lines, SageMaker's train, throughput and
    /// progress lines. `crossEntropy`/`smoothL1`: the mean of the epoch's per-batch values (JSON only).
    func epoch(_ epoch: Int, crossEntropy: Double, smoothL1: Double, seconds: Double) throws {
        let m = epochEnd.metric
        log(LogFormat.train(epoch: epoch, name: "CrossEntropy", value: m.crossEntropy))
        log(LogFormat.train(epoch: epoch, name: "SmoothL1", value: m.smoothL1))
        log(LogFormat.timeCost(epoch: epoch, seconds: seconds))
        log(LogFormat.trainQuality(host: host, epoch: epoch, batch: epochEnd.batch, name: "cross_entropy", value: m.crossEntropy))
        log(LogFormat.trainQuality(host: host, epoch: epoch, batch: epochEnd.batch, name: "smooth_l1", value: m.smoothL1))
        let throughput = seconds > 0 ? Double(epochSamples) / seconds : 0
        log(LogFormat.throughput(host: host, recordsPerSecond: throughput))
        log(LogFormat.progress(host: host, percent: 100 * Double(min(epoch + 1, totalEpochs)) / Double(totalEpochs)))
        try write(["epoch": epoch, "event": "epoch_end", "train:cross_entropy": m.crossEntropy, "train:smooth_l1": m.smoothL1,
               "mean_batch_cross_entropy": crossEntropy, "mean_batch_smooth_l1": smoothL1, "seconds": seconds,
               "train:throughput": throughput])
        try metrics?.sync()  // each epoch's records reach the disk
    }

    func validation(_ epoch: Int, mAP: Double) throws {
        observer?.validated(epoch: epoch, mAP: mAP)
        log(LogFormat.validation(epoch: epoch, name: "mAP", value: mAP))
        log(LogFormat.validationMAP(host: host, epoch: epoch, value: mAP))
        try write(["epoch": epoch, "validation:mAP": mAP])
    }
}
