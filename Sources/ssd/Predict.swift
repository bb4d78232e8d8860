import ArgumentParser
import Detection
import DetectionData
import Foundation

/// `ssd predict`: detections for images, as SageMaker's inference JSON and as PNGs with the
/// boxes drawn and labelled by class color.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect objects in images: {\"prediction\": [[class, score, xmin, ymin, xmax, ymax], …]} per image, and a PNG with boxes.")

    @Option(help: "Checkpoint directory.") var modelDir: String
    @Option(help: "Epoch of the checkpoint (default: the newest).") var epoch: Int?
    @Option(help: "Where the JSON and PNG files go.") var output: String
    @Option(help: "Draw boxes scoring at least this.") var threshold: Float = 0.3
    @Option(help: "NMS IoU.") var nmsThreshold: Float = 0.45
    @Argument(help: "JPEG or PNG images.") var images: [String]

    func run() throws {
        let model = try Checkpoint.load(from: modelDir, epoch: epoch)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let s = model.config.imageShape
        for path in images {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("\(path): cannot be read") }
            var image = try ImageCodec.decode([UInt8](data), source: path)
            var input = [Float](repeating: 0, count: 3 * s * s)
            input.withUnsafeMutableBufferPointer { Resize.render(image, window: .full, mirror: false, size: s, into: $0) }
            for (c, mean) in [Float(123), 117, 104].enumerated() { for i in (c * s * s)..<((c + 1) * s * s) { input[i] -= mean } }
            let out = try model.detect(images: input, batch: 1, nmsThreshold: nmsThreshold)
            let detections = MultiBoxDetection.detections(out, image: 0, anchors: model.anchorCount)
            let rows = detections.map { [Double($0.classId), Double($0.score)] + $0.box.map(Double.init) }
            let base = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            try JSONSerialization.data(withJSONObject: ["prediction": rows])
                .write(to: URL(fileURLWithPath: (output as NSString).appendingPathComponent("\(base).json")))
            for d in detections where d.score >= threshold {
                Drawing.drawBox(on: &image, xmin: d.box[0], ymin: d.box[1], xmax: d.box[2], ymax: d.box[3],
                                color: Drawing.color(forClass: d.classId), thickness: max(2, image.width / 150))
            }
            try Data(try ImageCodec.encodePNG(image)).write(to: URL(fileURLWithPath: (output as NSString).appendingPathComponent("\(base).png")))
            let shown = detections.filter { $0.score >= threshold }
            print("ssd predict: \(path): \(detections.count) detection(s), \(shown.count) at score ≥ \(threshold): "
                  + shown.prefix(5).map { String(format: "class %d %.2f", $0.classId, $0.score) }.joined(separator: ", "))
        }
    }
}
