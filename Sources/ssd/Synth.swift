import ArgumentParser
import DetectionData
import Foundation

/// `ssd synth`: a synthetic detection data set in SageMaker's layouts.
struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a synthetic detection data set (shapes on textured backgrounds).",
        discussion: """
            Writes <output>/train/*.jpg + <output>/train_annotation/*.json (SageMaker's image + JSON \
            channels) and/or <output>/train.rec + train.idx (RecordIO channel), and the same for validation. \
            Class k is a distinct shape (rectangle, ellipse, triangle, cross, diamond, ring, hexagon, star, …).
            """)

    @Option(name: .shortAndLong, help: "Output directory.") var output: String
    @Option(help: "Number of classes.") var classes = 3
    @Option(help: "Training images.") var train = 64
    @Option(help: "Validation images.") var validation = 16
    @Option(help: "Image width and height in pixels.") var size = 300
    @Option(help: "At most this many objects per image.") var maxObjects = 4
    @Option(help: "json, recordio or both.") var format = "both"
    @Option(help: "Random seed (same seed, same data).") var seed: UInt64 = 1

    func validate() throws {
        guard ["json", "recordio", "both"].contains(format) else { throw ValidationError("--format must be json, recordio or both, got \(format)") }
        guard classes >= 1, train >= 1, validation >= 0, size >= 32, maxObjects >= 1 else {
            throw ValidationError("--classes, --train and --max-objects must be >= 1, --validation >= 0, --size >= 32")
        }
    }

    func run() throws {
        let formats: DatasetExport.Formats = format == "json" ? .json : format == "recordio" ? .recordIO : [.json, .recordIO]
        let synth = SyntheticDataset(classes: classes, imageSize: size, maxObjects: maxObjects, seed: seed)
        for (split, count) in [("train", train), ("validation", validation)] where count > 0 {
            try DatasetExport.write(split: split, count: count, to: output, formats: formats, categories: synth.classNames) {
                synth.sample($0, split: split)
            }
            print("ssd synth: wrote \(count) \(split) image(s) to \(output)")
        }
        print("ssd synth: classes \(synth.classNames.enumerated().map { "\($0.offset)=\($0.element)" }.joined(separator: ", "))")
    }
}
