import ArgumentParser
import Detection
import DetectionData
import Foundation
import Serving
import Tensor

/// `ssd predict`: detections for images with a trained model directory, as SageMaker's
/// inference JSON and as PNGs with the boxes drawn and labelled (class name and score).
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect objects in images: {\"prediction\": [[class, score, xmin, ymin, xmax, ymax], …]} per image, and a PNG with labelled boxes.",
        discussion: """
            The model directory holds model_algo_1-symbol.json, model_algo_1-0000.params and hyperparams.json, \
            as `worker` writes them at the end of training (SageMaker's model.tar.gz contents).
            """)

    @Option(help: "Model directory (SageMaker's /opt/ml/model layout).") var modelDir: String
    @Option(help: "Where the JSON and PNG files go.") var output: String
    @Option(help: "Draw boxes scoring at least this.") var threshold: Float = 0.3
    @Flag(help: "Add a \"labels\" list (class names) beside \"prediction\" in the JSON.") var labels = false
    @Argument(help: "JPEG or PNG images.") var images: [String]

    func run() throws {
        let threading = ForwardCompute.start(batch: 1)   // one image per forward pass
        let predictor = try Predictor(modelDirectory: modelDir)
        predictor.artifacts.model.threading = threading
        let font = try LabelFont()
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        for path in images {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot be read") }
            let image = try ImageCodec.decode([UInt8](data), source: path)
            let detections = try predictor.detect([image])[0]
            let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            let json = PredictionJSON.encode(detections, labels: labels ? detections.map { predictor.className($0.classId) } : nil)
            try Data(json.utf8).write(to: URL(fileURLWithPath: (output as NSString).appendingPathComponent("\(base).json")))
            let drawn = predictor.annotated(image, detections: detections, threshold: threshold, font: font)
            try Data(try ImageCodec.encodePNG(drawn)).write(to: URL(fileURLWithPath: (output as NSString).appendingPathComponent("\(base).png")))
            let shown = detections.filter { $0.score >= threshold }
            print("ssd predict: \(path): \(detections.count) detection(s), \(shown.count) at score ≥ \(threshold): "
                  + shown.prefix(5).map { String(format: "%@ %.2f", predictor.className($0.classId), $0.score) }.joined(separator: ", "))
        }
    }
}
