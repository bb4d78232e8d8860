import ArgumentParser
import DetectionData
import Foundation

/// `ssd im2rec`: images + annotations (SageMaker JSON or MXNet .lst) → RecordIO + index.
struct Im2Rec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "im2rec",
        abstract: "Pack images and detection annotations into RecordIO (.rec + .idx), readable by MXNet.")

    @Option(help: "Directory of SageMaker JSON annotations (one per image).") var annotations: String?
    @Option(help: "Directory of the images the annotations name (default: next to --annotations).") var images: String?
    @Option(help: "An MXNet .lst file (instead of --annotations).") var list: String?
    @Option(help: "Root directory of the .lst's image paths.") var root: String?
    @Option(help: "Number of classes (class ids are checked against it).") var numClasses: Int?
    @Option(name: .shortAndLong, help: "Output .rec path (the .idx is written beside it).") var output: String

    func run() throws {
        let source: DetectionDataset.Source
        if let annotations {
            let imageDir = images ?? ((annotations as NSString).deletingLastPathComponent as NSString)
                .appendingPathComponent(((annotations as NSString).lastPathComponent as NSString).replacingOccurrences(of: "_annotation", with: ""))
            source = .imagesWithAnnotations(images: imageDir, annotations: annotations)
        } else if let list {
            source = .list(lst: list, imageRoot: root ?? (list as NSString).deletingLastPathComponent)
        } else {
            throw ValidationError("give --annotations DIR (SageMaker JSON) or --list FILE.lst")
        }
        let dataset = try DetectionDataset(source, numClasses: numClasses)
        let writer = try RecordIOWriter(path: output)
        var index: [(key: Int, offset: Int)] = []
        for i in 0..<dataset.count {
            let (bytes, label) = try dataset.encodedSample(i)
            index.append((i, try writer.write(ImageRecord(label: label.flattened, id: UInt64(i), image: bytes).payload)))
        }
        try writer.close()
        let idx = (output as NSString).deletingPathExtension + ".idx"
        try IndexFile(entries: index).write(to: idx)
        print("ssd im2rec: packed \(dataset.count) image(s) from \(dataset.description) into \(output) and \(idx)")
    }
}
