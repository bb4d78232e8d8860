import ArgumentParser
import Detection
import DetectionData
import Foundation
import Training

/// `ssd eval`: mAP of a checkpoint on a labelled channel, with the AP of every class.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validation mAP of a checkpoint and each class's AP (VOC07 11-point by default, MXNet SSD example's rules).")

    @Option(help: "Checkpoint directory (model_algo_1-NNNN.params + model_algo_1-model.json).") var modelDir: String
    @Option(help: "Epoch of the checkpoint (default: the newest).") var epoch: Int?
    @Option(help: "Directory holding the channel (SageMaker layout).") var dataRoot: String
    @Option(help: "Channel to evaluate.") var channel = "validation"
    @Option(help: "IoU of a true positive (overlap_threshold).") var overlapThreshold: Float = 0.5
    @Option(help: "NMS IoU (nms_threshold).") var nmsThreshold: Float = 0.45
    @Flag(help: "Area under the curve instead of VOC07's 11 points.") var area = false
    @Option(help: "Whose VOC mAP: mxnet (the SSD example's, what SageMaker reports) or gluoncv (README: the differences).")
    var mapRules: VOCMeanAveragePrecision.Rules = .mxnetExample
    @Flag(help: "Print one JSON object (mAP, per-class AP, settings) instead of the table.") var json = false

    /// What `--json` prints.
    struct Report: Codable, Equatable {
        /// One class's average precision.
        struct ClassAP: Codable, Equatable {
            var classId: Int
            /// null where undefined (GluonCV: a class without positives).
            var ap: Double?
        }
        var checkpoint: String
        var channel: String
        var images: Int
        var interpolation: String
        var rules: String
        var overlapThreshold: Float
        var nmsThreshold: Float
        /// Mean of `classes`' APs; null when no class was seen (no ground truth at all).
        var mAP: Double?
        /// Every class seen in the ground truth or counted among the detections, by id.
        var classes: [ClassAP]
    }

    func run() throws {
        let threading = ForwardCompute.start(batch: 8)   // Evaluation's batches of 8
        let model = try Checkpoint.load(from: modelDir, epoch: epoch)
        model.threading = threading
        let dataset = try openSageMakerChannel(dataRoot: dataRoot, channel: channel)
        let metric = try Evaluation.averagePrecision(model: model, dataset: dataset, overlapThreshold: overlapThreshold,
                                                     nmsThreshold: nmsThreshold, interpolation: area ? .area : .elevenPoint, rules: mapRules)
        let mAP = metric.meanAveragePrecision()
        let report = Report(checkpoint: try Checkpoint.paramsPath(in: modelDir, epoch: epoch), channel: channel, images: dataset.count,
                            interpolation: area ? "area" : "11-point", rules: mapRules.rawValue, overlapThreshold: overlapThreshold, nmsThreshold: nmsThreshold,
                            mAP: mAP.isNaN ? nil : mAP,
                            classes: metric.averagePrecisions().sorted { $0.key < $1.key }.map { .init(classId: $0.key, ap: $0.value.isNaN ? nil : $0.value) })
        if json {
            print(try JSONLine.encode(report))
            return
        }
        print(String(format: "ssd eval: %@ on %@/%@ (%d images), %@, %@ rules, IoU %@ %g", report.checkpoint, dataRoot, channel,
                     dataset.count, report.interpolation, report.rules, mapRules == .gluonCV ? "≥" : ">", overlapThreshold))
        for c in report.classes { print(c.ap.map { String(format: "  class %3d  AP %.4f", c.classId, $0) } ?? String(format: "  class %3d  AP n/a (no positives)", c.classId)) }
        print(report.mAP.map { String(format: "  mAP        %.4f", $0) } ?? "  mAP        n/a (no ground truth in the channel)")
    }
}

extension VOCMeanAveragePrecision.Rules: ExpressibleByArgument {}
