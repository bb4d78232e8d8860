import Detection
import Foundation
import Logging
import Testing
@testable import Training

/// Collects every logged message (ProgressLog's lines).
final class CapturedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
    func append(_ s: String) { lock.lock(); stored.append(s); lock.unlock() }
}

struct CapturingHandler: LogHandler {
    let sink: CapturedLines
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { metadata[key] } set { metadata[key] = newValue } }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        sink.append(message.description)
    }
}

/// The regular expressions README's "Log lines" paragraph documents for MXNet's lines.
enum MXNetLineRegex {
    static let speedometer = #"Epoch\[(\d+)\] Batch \[(-?\d+)-(\d+)\]\tSpeed: ([0-9.]+|inf) samples/sec((\t[A-Za-z0-9_]+=(-?[0-9]+\.[0-9]{6}|nan|inf))+)$"#
    static let train = #"Epoch\[(\d+)\] Train-([A-Za-z0-9_]+)=(-?[0-9]+\.[0-9]{6}|nan|inf)$"#
    static let timeCost = #"Epoch\[(\d+)\] Time cost=([0-9.]+)$"#
    static let validation = #"Epoch\[(\d+)\] Validation-([A-Za-z0-9_]+)=(-?[0-9]+\.[0-9]{6}|nan|inf)$"#
}

func firstGroup(_ pattern: String, in line: String) throws -> String? {
    let regex = try NSRegularExpression(pattern: pattern)
    guard let m = regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line)), m.numberOfRanges > 1,
          let r = Range(m.range(at: 1), in: line) else { return nil }
    return String(line[r])
}

@Suite("Log lines: MXNet's Speedometer and fit lines, SageMaker's metric lines")
struct LogFormatTests {
    @Test("the Speedometer line is MXNet 1.9.1's format exactly")
    func speedometerText() throws {
        let line = LogFormat.speedometer(epoch: 2, from: 20, to: 40, samplesPerSecond: 12.345, metrics: [("CrossEntropy", 1.2345678), ("SmoothL1", 0.5)])
        #expect(line == "Epoch[2] Batch [20-40]\tSpeed: 12.35 samples/sec\tCrossEntropy=1.234568\tSmoothL1=0.500000")
        #expect(try firstGroup(MXNetLineRegex.speedometer, in: line) == "2")
        #expect(LogFormat.train(epoch: 3, name: "CrossEntropy", value: 0.25) == "Epoch[3] Train-CrossEntropy=0.250000")
        #expect(LogFormat.validation(epoch: 3, name: "mAP", value: 0.5) == "Epoch[3] Validation-mAP=0.500000")
        #expect(LogFormat.timeCost(epoch: 3, seconds: 1.23456) == "Epoch[3] Time cost=1.235")
        #expect(try firstGroup(MXNetLineRegex.timeCost, in: "2026-11-30T03:05:52+0000 info worker: [Training] Epoch[3] Time cost=1.235") == "3")
        #expect(try firstGroup(MXNetLineRegex.train, in: LogFormat.train(epoch: 3, name: "SmoothL1", value: .nan)) == "3")
    }

    @Test("every SageMaker metric line matches the built-in algorithm's metric definition and reads back the value")
    func sageMakerRegexes() throws {
        let defs = Dictionary(uniqueKeysWithValues: LogFormat.metricDefinitions.map { ($0.name, $0.regex) })
        let value = 0.123456789012345
        let cases: [(String, String)] = [
            ("train:cross_entropy", LogFormat.trainQuality(host: "algo-2", epoch: 1, batch: 20, name: "cross_entropy", value: value)),
            ("train:smooth_l1", LogFormat.trainQuality(host: "algo-2", epoch: 1, batch: 20, name: "smooth_l1", value: value)),
            ("validation:mAP", LogFormat.validationMAP(host: "algo-2", epoch: 1, value: value)),
            ("train:throughput", LogFormat.throughput(host: "algo-2", recordsPerSecond: value)),
            ("train:progress", LogFormat.progress(host: "algo-2", percent: value)),
        ]
        for (name, line) in cases {
            let captured = try firstGroup(try #require(defs[name]), in: line)
            #expect(captured.flatMap(Double.init) == value, "\(name): \(line)")
        }
        #expect(LogFormat.validationMAP(host: "algo-1", epoch: 4, value: 0.75) == "#quality_metric: host=algo-1, epoch=4, validation mAP <score>=(0.75)")
        // A line of one kind does not match another's definition.
        #expect(try firstGroup(try #require(defs["train:smooth_l1"]), in: cases[0].1) == nil)
    }

    @Test("the host comes from SM_CURRENT_HOST, not a constant")
    func host() {
        #expect(LogFormat.host(environment: ["SM_CURRENT_HOST": "algo-3"], resourceConfig: "/nonexistent") == "algo-3")
        #expect(!LogFormat.host(environment: [:], resourceConfig: "/nonexistent").isEmpty)
    }

    @Test("ProgressLog: Speedometer windows with auto-reset as MXNet's, epoch-end and validation lines, metrics.jsonl per rank, appended on resume")
    func progressLog() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("progresslog-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = CapturedLines()
        let logger = Logger(label: "test") { _ in CapturingHandler(sink: sink) }
        var clock = Date(timeIntervalSince1970: 1000)
        var h = Hyperparameters(numClasses: 2, numTrainingSamples: 20)
        h.epochs = 2
        // Batch k's metric: CE sum k+1 over 1 anchor, smooth-L1 sum 2(k+1).
        func metric(_ k: Int) -> MultiBoxMetric {
            var m = MultiBoxMetric(); m.crossEntropySum = Double(k + 1); m.smoothL1Sum = Double(2 * (k + 1)); m.validCount = 1; return m
        }
        for run in 0..<2 {  // the second run stands for a resumed one: the file grows
            let log = try ProgressLog(directory: dir, logger: logger, environment: ["SM_CURRENT_HOST": "algo-7"], interactive: false,
                                      now: { clock })
            try log.start(hyperparameters: h, workers: 1, rank: 0, effectiveBatch: 4, parameters: 10, anchors: 5, blas: "test")
            for k in 0..<5 {  // batches 0…4, a line every 2
                clock += 0.5
                try log.batch(epoch: run, step: k + 1, of: 5, samples: 4, metric: metric(k), imagesPerSecond: 8, learningRate: 0.1, every: 2)
            }
            try log.epoch(run, crossEntropy: 3, smoothL1: 6, seconds: 2.5)
            try log.validation(run, mAP: 0.5)
        }
        let lines = sink.lines
        let speed = lines.filter { $0.hasPrefix("Epoch[0] Batch") }
        // Batch 2: batches 0, 1, 2 (MXNet resets the metric at the epoch start, first line at nbatch 2); batch 4: batches 3, 4.
        #expect(speed == ["Epoch[0] Batch [0-2]\tSpeed: 8.00 samples/sec\tCrossEntropy=2.000000\tSmoothL1=4.000000",
                          "Epoch[0] Batch [2-4]\tSpeed: 8.00 samples/sec\tCrossEntropy=4.500000\tSmoothL1=9.000000"])
        for line in speed { #expect(try firstGroup(MXNetLineRegex.speedometer, in: line) == "0") }
        #expect(lines.contains("#quality_metric: host=algo-7, epoch=0, batch=2 train cross_entropy <loss>=2.0"))
        #expect(lines.contains("#quality_metric: host=algo-7, epoch=0, batch=4 train smooth_l1 <loss>=9.0"))
        #expect(lines.contains("Epoch[0] Train-CrossEntropy=4.500000") && lines.contains("Epoch[0] Train-SmoothL1=9.000000"))
        #expect(lines.contains("Epoch[0] Time cost=2.500"))
        #expect(lines.contains("#throughput_metric: host=algo-7, train throughput=8.0 records/second"))
        #expect(lines.contains("#progress_metric: host=algo-7, completed 50.0 %") && lines.contains("#progress_metric: host=algo-7, completed 100.0 %"))
        #expect(lines.contains("Epoch[1] Validation-mAP=0.500000") && lines.contains("#quality_metric: host=algo-7, epoch=1, validation mAP <score>=(0.5)"))
        for line in lines where line.hasPrefix("Epoch[") && line.contains("Train-") { #expect(try firstGroup(MXNetLineRegex.train, in: line) != nil) }
        for line in lines where line.contains("Validation-") { #expect(try firstGroup(MXNetLineRegex.validation, in: line) != nil) }
        #expect(lines.filter { $0.hasPrefix("Epoch[1] Batch") }.count == 2, "the second epoch starts a new window")

        let records = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(records.count == 2 * (1 + 5 + 1 + 1), "both runs' records, the first kept")
        #expect(ProgressLog.metricsFileName(rank: 0) == "metrics.jsonl" && ProgressLog.metricsFileName(rank: 2) == "metrics-rank2.jsonl")
        let worker = try ProgressLog(directory: dir, logger: logger, environment: [:], interactive: false)
        try worker.start(hyperparameters: h, workers: 3, rank: 2, effectiveBatch: 12, parameters: 10, anchors: 5, blas: "test")
        #expect(FileManager.default.fileExists(atPath: dir + "/metrics-rank2.jsonl"))
        #expect(try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == records.count,
                "rank 2 leaves rank 0's file alone")
    }
}
