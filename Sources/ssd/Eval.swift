import ArgumentParser
import Detection
import DetectionData
import Foundation
import Training

/// `ssd eval`: mAP of a checkpoint on a labelled channel.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validation mAP of a checkpoint (VOC07 11-point by default).")

    @Option(help: "Checkpoint directory (model_algo_1-NNNN.params + model_algo_1-model.json).") var modelDir: String
    @Option(help: "Epoch of the checkpoint (default: the newest).") var epoch: Int?
    @Option(help: "Directory holding the channel (SageMaker layout).") var dataRoot: String
    @Option(help: "Channel to evaluate.") var channel = "validation"
    @Option(help: "IoU of a true positive (overlap_threshold).") var overlapThreshold: Float = 0.5
    @Option(help: "NMS IoU (nms_threshold).") var nmsThreshold: Float = 0.45
    @Flag(help: "Area under the curve instead of VOC07's 11 points.") var area = false

    func run() throws {
        let model = try Checkpoint.load(from: modelDir, epoch: epoch)
        let dataset = try openSageMakerChannel(dataRoot: dataRoot, channel: channel)
        let mAP = try Evaluation.meanAveragePrecision(model: model, dataset: dataset, overlapThreshold: overlapThreshold,
                                                      nmsThreshold: nmsThreshold, interpolation: area ? .area : .elevenPoint)
        print(String(format: "ssd eval: %@ on %@/%@ (%d images): mAP %.4f", try Checkpoint.paramsPath(in: modelDir, epoch: epoch),
                     dataRoot, channel, dataset.count, mAP))
        struct Result: Encodable { var mAP: Double; var images: Int }
        print(String(decoding: try JSONEncoder().encode(Result(mAP: mAP, images: dataset.count)), as: UTF8.self))
    }
}
