import Detection
import DetectionData
import Foundation

/// Detections for decoded images with a loaded model: the one inference path of `ssd serve`
/// and `ssd predict`. Each image is stretched to image_shape × image_shape (bilinear), RGB
/// minus the mean (123, 117, 104), and run through the deploy graph (softmax +
/// MultiBoxDetection with the model directory's settings).
///
/// Not reentrant (the model's convolution workspace is shared): callers serialise `detect`
/// — the server through its one batching thread.
public final class Predictor: @unchecked Sendable {
    public let artifacts: ModelArtifacts
    /// Per-channel mean subtracted from 0...255 RGB (MXNet SSD's).
    public static let mean: [Float] = [123, 117, 104]

    public init(artifacts: ModelArtifacts) { self.artifacts = artifacts }

    /// Loads a model directory (`ModelArtifacts.load`).
    public convenience init(modelDirectory: String) throws {
        self.init(artifacts: try ModelArtifacts.load(from: modelDirectory))
    }

    /// The network's input side in pixels.
    public var imageShape: Int { artifacts.model.config.imageShape }

    /// Writes one image's network input (3 × S × S) into `output`.
    public func input(for image: RGBImage, into output: UnsafeMutableBufferPointer<Float>) {
        let s = imageShape, plane = s * s
        Resize.render(image, window: .full, mirror: false, size: s, into: output)
        for c in 0..<3 { for i in (c * plane)..<((c + 1) * plane) { output[i] -= Self.mean[c] } }
    }

    /// The detections of every image (one forward pass for the whole batch), best first.
    public func detect(_ images: [RGBImage]) throws -> [[MultiBoxDetection.Detection]] {
        guard !images.isEmpty else { return [] }
        let size = 3 * imageShape * imageShape
        var batch = [Float](repeating: 0, count: images.count * size)
        batch.withUnsafeMutableBufferPointer { all in
            for (n, image) in images.enumerated() { input(for: image, into: UnsafeMutableBufferPointer(rebasing: all[(n * size)..<((n + 1) * size)])) }
        }
        let model = artifacts.model
        let out = try model.deployForward(images: batch, batch: images.count, detection: artifacts.detection)
        return images.indices.map { MultiBoxDetection.detections(out, image: $0, anchors: model.anchorCount) }
    }

    /// The name of a class (from the model directory), or "class N".
    public func className(_ id: Int) -> String {
        guard let names = artifacts.classNames, names.indices.contains(id) else { return "class \(id)" }
        return names[id]
    }

    /// A copy of `image` with the detections scoring at least `threshold` drawn as boxes in
    /// their class colors, labelled with class name and score.
    public func annotated(_ image: RGBImage, detections: [MultiBoxDetection.Detection], threshold: Float, font: LabelFont) -> RGBImage {
        var drawn = image
        // Lowest first, so the best detections' labels end up on top.
        for d in detections.filter({ $0.score >= threshold }).reversed() {
            Drawing.drawLabelledBox(on: &drawn, box: d.box, label: String(format: "%@ %.2f", className(d.classId), d.score),
                                    color: Drawing.color(forClass: d.classId), font: font)
        }
        return drawn
    }
}
