import ArgumentParser
import DetectionData
import Foundation

/// `ssd synth`: writes a synthetic detection dataset (shapes on textured backgrounds).
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a synthetic detection dataset: JPEGs + SageMaker JSON and/or RecordIO, train and validation splits.")

    @Option(help: "Output directory.") var output: String
    @Option(help: "Number of classes (shapes), 1...8.") var numClasses = 4
    @Option(help: "Training images.") var train = 200
    @Option(help: "Validation images.") var validation = 50
    @Option(help: "Image side in pixels.") var imageSize = 256
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Formats: json, rec, or both (comma-separated).") var format = "json,rec"
    @Option(help: "JPEG quality 1...100.") var quality = 92
    @Flag(help: "Also write preview.png: the first 8 training images with their boxes drawn.") var preview = false

    func validate() throws {
        guard (1...SyntheticDataset.shapeNames.count).contains(numClasses) else {
            throw ValidationError("--num-classes \(numClasses) is outside 1...\(SyntheticDataset.shapeNames.count)")
        }
        guard imageSize >= 16 else { throw ValidationError("--image-size \(imageSize) must be at least 16") }
        guard train >= 0, validation >= 0, train + validation > 0 else { throw ValidationError("--train and --validation must be ≥ 0 and not both 0") }
        let parts = format.split(separator: ",")
        guard !parts.isEmpty, parts.allSatisfy({ $0 == "json" || $0 == "rec" }) else {
            throw ValidationError("--format \(format): use json, rec or json,rec")
        }
    }

    func run() throws {
        var formats: SyntheticDataset.Formats = []
        for p in format.split(separator: ",") { formats.insert(p == "json" ? .json : .recordIO) }
        let gen = SyntheticDataset(numClasses: numClasses, imageSize: imageSize, seed: seed)
        try gen.write(to: output, trainCount: train, validationCount: validation, formats: formats, quality: quality)
        if preview { try writePreview(gen) }
        print("ssd synth: wrote \(train) train + \(validation) validation images (\(numClasses) classes: \(SyntheticDataset.shapeNames.prefix(numClasses).joined(separator: ", "))) to \(output)")
    }

    /// A 4×2 grid of the first training images with class-colored boxes, as PNG.
    private func writePreview(_ gen: SyntheticDataset) throws {
        let n = min(8, max(1, train)), side = imageSize
        var grid = RGBImage(width: 4 * side, height: ((n + 3) / 4) * side)
        for i in 0..<n {
            var (image, boxes) = gen.sample(index: i, split: 0)
            let objects = try gen.annotation(file: "", boxes: boxes).objects(source: "preview")
            Drawing.drawObjects(objects, on: &image)
            for y in 0..<side { for x in 0..<side { grid[(i % 4) * side + x, (i / 4) * side + y] = image[x, y] } }
        }
        let path = (output as NSString).appendingPathComponent("preview.png")
        guard FileManager.default.createFile(atPath: path, contents: Data(try ImageCodec.encodePNG(grid))) else {
            throw ValidationError("cannot write \(path)")
        }
    }
}
