import Foundation

/// Several datasets read as one (e.g. a SageMaker channel holding several `.rec` files).
public final class ConcatenatedDataset: DetectionDataset, @unchecked Sendable {
    /// The parts, in order.
    public let parts: [any DetectionDataset]
    private let starts: [Int]
    /// A name listing the parts.
    public let name: String
    /// Total samples.
    public let count: Int

    /// Concatenates `parts` (at least one).
    public init(_ parts: [any DetectionDataset]) throws {
        guard !parts.isEmpty else { throw DetectionDataError.emptyDataset(source: "(no parts)") }
        self.parts = parts
        var s: [Int] = [], total = 0
        for p in parts { s.append(total); total += p.count }
        starts = s; count = total
        name = parts.map(\.name).joined(separator: ", ")
    }

    /// Sample `index` of the concatenation.
    public func sample(at index: Int) throws -> EncodedSample {
        guard index >= 0, index < count else { throw DetectionDataError.indexOutOfRange(source: name, index: index, count: count) }
        var lo = 0, hi = starts.count - 1
        while lo < hi { let mid = (lo + hi + 1) / 2; if starts[mid] <= index { lo = mid } else { hi = mid - 1 } }
        return try parts[lo].sample(at: index - starts[lo])
    }
}

/// Opens a SageMaker Object Detection input channel in File mode: `<dataRoot>/<channel>` holds
/// `.rec` files (RecordIO mode, each with its `.idx` if present), or images with the JSON
/// annotations in `<dataRoot>/<channel>_annotation` (image mode). E.g. dataRoot
/// `/opt/ml/input/data`, channel `train` or `validation`.
public func openSageMakerChannel(dataRoot: String, channel: String) throws -> any DetectionDataset {
    let dir = (dataRoot as NSString).appendingPathComponent(channel)
    guard let files = try? FileManager.default.contentsOfDirectory(atPath: dir) else {
        throw DetectionDataError.io(path: dir, reason: "channel folder missing")
    }
    let recs = files.filter { $0.hasSuffix(".rec") }.sorted()
    if !recs.isEmpty {
        let parts = try recs.map { try openDetectionDataset(path: (dir as NSString).appendingPathComponent($0)) }
        return parts.count == 1 ? parts[0] : try ConcatenatedDataset(parts)
    }
    let annotations = dir + "_annotation"
    guard FileManager.default.fileExists(atPath: annotations) else {
        throw DetectionDataError.io(path: dir, reason: "no .rec files, and no \(channel)_annotation folder beside it for image mode")
    }
    return try AnnotatedImageDataset(imageRoot: dir, annotationDirectory: annotations)
}
