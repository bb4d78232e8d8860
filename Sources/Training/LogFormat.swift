import Foundation

/// The training log lines that MXNet users' and SageMaker's regular expressions parse, as pure
/// formatting functions (ProgressLog decides when to print them).
///
/// MXNet 1.9.1 (`python/mxnet/callback.py`, `Speedometer.__call__` with `auto_reset=True`):
///
///     msg = 'Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec'
///     msg += '\t%s=%f'*len(name_value)
///
/// and `python/mxnet/module/base_module.py` (`fit`): `'Epoch[%d] Train-%s=%f'`,
/// `'Epoch[%d] Time cost=%.3f'`, `'Epoch[%d] Validation-%s=%f'`. The SSD example's metric
/// names are `CrossEntropy`, `SmoothL1` (`example/ssd/train/metric.py`) and `mAP`.
///
/// SageMaker's built-in Object Detection algorithm: the metric definitions SageMaker attaches
/// to its training jobs, as the SageMaker console lists them for an `object-detection:latest`
/// job (a copy of that listing, for job object-detection-2019-01-30-21-02-07, is public in a
/// GitHub Scala file; AWS's object-detection notebooks parse `validation mAP <score>=(…)`):
///
///     train:progress       #progress_metric: host=\S+, completed (\S+) %
///     train:smooth_l1      #quality_metric: host=\S+, epoch=\S+, batch=\S+ train smooth_l1 <loss>=(\S+)
///     train:cross_entropy  #quality_metric: host=\S+, epoch=\S+, batch=\S+ train cross_entropy <loss>=(\S+)
///     train:throughput     #throughput_metric: host=\S+, train throughput=(\S+) records/second
///     validation:mAP       #quality_metric: host=\S+, epoch=\S+, validation mAP <score>=\((\S+)\)
///
/// The values in `#…_metric` lines are written as Python's `repr` of a float would be (the
/// shortest text that reads back to the same Double), as SageMaker's algorithms print them
/// (`#quality_metric: host=algo-1, epoch=0, batch=5 train loss <loss>=9.51555061340332`).
public enum LogFormat {
    /// One metric definition: SageMaker's name and the regular expression whose group 1 is the value.
    public struct MetricDefinition: Sendable, Equatable {
        public var name: String
        public var regex: String
    }

    /// The built-in algorithm's metric definitions (see above): what a tuning job or a user's
    /// `metric_definitions` match against this trainer's log.
    public static let metricDefinitions: [MetricDefinition] = [
        .init(name: "train:progress", regex: #"#progress_metric: host=\S+, completed (\S+) %"#),
        .init(name: "train:smooth_l1", regex: #"#quality_metric: host=\S+, epoch=\S+, batch=\S+ train smooth_l1 <loss>=(\S+)"#),
        .init(name: "train:cross_entropy", regex: #"#quality_metric: host=\S+, epoch=\S+, batch=\S+ train cross_entropy <loss>=(\S+)"#),
        .init(name: "train:throughput", regex: #"#throughput_metric: host=\S+, train throughput=(\S+) records/second"#),
        .init(name: "validation:mAP", regex: #"#quality_metric: host=\S+, epoch=\S+, validation mAP <score>=\((\S+)\)"#),
    ]

    /// MXNet's Speedometer line (auto-reset): the metrics cover batches (`from`, `to`] of the epoch.
    public static func speedometer(epoch: Int, from: Int, to: Int, samplesPerSecond: Double, metrics: [(name: String, value: Double)]) -> String {
        String(format: "Epoch[%d] Batch [%d-%d]\tSpeed: %.2f samples/sec", epoch, from, to, samplesPerSecond)
            + metrics.map { "\t\($0.name)=" + String(format: "%f", $0.value) }.joined()
    }

    /// `Module.fit`'s end-of-epoch training metric line.
    public static func train(epoch: Int, name: String, value: Double) -> String {
        String(format: "Epoch[%d] Train-%@=%f", epoch, name, value)
    }

    /// `Module.fit`'s epoch duration line.
    public static func timeCost(epoch: Int, seconds: Double) -> String {
        String(format: "Epoch[%d] Time cost=%.3f", epoch, seconds)
    }

    /// `Module.fit`'s validation metric line.
    public static func validation(epoch: Int, name: String, value: Double) -> String {
        String(format: "Epoch[%d] Validation-%@=%f", epoch, name, value)
    }

    /// SageMaker's `train:cross_entropy` / `train:smooth_l1` line (`name` = cross_entropy or smooth_l1).
    public static func trainQuality(host: String, epoch: Int, batch: Int, name: String, value: Double) -> String {
        "#quality_metric: host=\(host), epoch=\(epoch), batch=\(batch) train \(name) <loss>=\(pythonRepr(value))"
    }

    /// SageMaker's `validation:mAP` line.
    public static func validationMAP(host: String, epoch: Int, value: Double) -> String {
        "#quality_metric: host=\(host), epoch=\(epoch), validation mAP <score>=(\(pythonRepr(value)))"
    }

    /// SageMaker's `train:throughput` line.
    public static func throughput(host: String, recordsPerSecond: Double) -> String {
        "#throughput_metric: host=\(host), train throughput=\(pythonRepr(recordsPerSecond)) records/second"
    }

    /// SageMaker's `train:progress` line.
    public static func progress(host: String, percent: Double) -> String {
        "#progress_metric: host=\(host), completed \(pythonRepr(percent)) %"
    }

    /// The host name in the `#…_metric` lines: `SM_CURRENT_HOST` (SageMaker sets it to
    /// `algo-1`, `algo-2`, …), else `current_host` of the resource config file, else this
    /// machine's host name.
    public static func host(environment: [String: String] = ProcessInfo.processInfo.environment,
                            resourceConfig: String = "/opt/ml/input/config/resourceconfig.json") -> String {
        if let h = environment["SM_CURRENT_HOST"], !h.isEmpty, !h.contains(where: \.isWhitespace) { return h }
        if let data = FileManager.default.contents(atPath: resourceConfig),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let h = object["current_host"] as? String, !h.isEmpty, !h.contains(where: \.isWhitespace) { return h }
        let name = ProcessInfo.processInfo.hostName
        return name.isEmpty || name.contains(where: \.isWhitespace) ? "localhost" : name
    }

    /// A Double as Python's `repr` writes it: shortest round-trip digits, `nan`, `inf`.
    static func pythonRepr(_ x: Double) -> String {
        if x.isNaN { return "nan" }
        if x.isInfinite { return x > 0 ? "inf" : "-inf" }
        return "\(x)"
    }
}
