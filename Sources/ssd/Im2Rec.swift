import ArgumentParser
import DetectionData
import Foundation

/// `ssd im2rec`: packs images + annotations (SageMaker JSON or `.lst`) into `.rec` + `.idx`.
struct Im2Rec: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "im2rec",
        abstract: "Pack images and annotations (SageMaker JSON folder or .lst) into RecordIO .rec + .idx readable by MXNet.",
        discussion: """
            Every label is validated and every image decoded before it is written. The .rec and .idx appear only \
            when packing succeeds (they are written to temporary files and renamed), so a failure — a missing or \
            corrupt image without --skip-bad — leaves the previous files, or none. --rec repacks an existing \
            .rec (checking it), keeping each record's id and id2 as MXNet's recordio.pack does.
            """)

    @Option(help: "Image folder (with --annotations) or image root of --list (default: the list's folder).") var images: String?
    @Option(help: "Folder of SageMaker JSON annotations, one per image.") var annotations: String?
    @Option(help: "An MXNet .lst file with detection labels.") var list: String?
    @Option(help: "An existing .rec (with its .idx beside it, if any) to check and repack.") var rec: String?
    @Option(help: "Output prefix: writes PREFIX.rec and PREFIX.idx.") var output: String
    @Option(help: "When set, class ids must be below this.") var numClasses: Int?
    @Flag(help: "Skip bad samples (counted and reported) instead of stopping at the first.") var skipBad = false

    func validate() throws {
        guard [annotations, list, rec].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --annotations (with --images), --list or --rec")
        }
        if annotations != nil && images == nil { throw ValidationError("--annotations needs --images") }
    }

    func run() throws {
        let dataset: any DetectionDataset
        if let rec {
            dataset = try openDetectionDataset(path: rec.hasSuffix(".rec") ? rec : rec + ".rec")
        } else if let list {
            dataset = try ListFileDataset(listPath: list, imageRoot: images ?? (list as NSString).deletingLastPathComponent)
        } else {
            dataset = try AnnotatedImageDataset(imageRoot: images ?? "", annotationDirectory: annotations ?? "")
        }
        let summary = try RecordIOPacker.pack(dataset, to: output, numClasses: numClasses, skipBad: skipBad)
        print("ssd im2rec: wrote \(summary.written) records to \(output).rec and \(output).idx")
        if let first = summary.skipped.first {
            print("skipped \(summary.skipped.count) bad sample(s); first: sample \(first.index): \(first.reason)")
        }
    }
}
