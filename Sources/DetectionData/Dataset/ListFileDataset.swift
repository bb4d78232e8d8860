import Foundation

/// Samples from an MXNet `.lst` file (normalized detection labels) and an image folder.
public final class ListFileDataset: DetectionDataset, @unchecked Sendable {
    /// The `.lst` path.
    public let name: String
    /// The parsed lines.
    public let entries: [ListFile.Entry]
    private let imageRoot: String

    /// Reads `listPath`; image paths are relative to `imageRoot`.
    public init(listPath: String, imageRoot: String) throws {
        name = listPath
        self.imageRoot = imageRoot
        entries = try ListFile.read(path: listPath)
        guard !entries.isEmpty else { throw DetectionDataError.emptyDataset(source: listPath) }
    }

    /// Number of lines.
    public var count: Int { entries.count }

    /// Reads line `index` and its image.
    public func sample(at index: Int) throws -> EncodedSample {
        guard index >= 0, index < entries.count else {
            throw DetectionDataError.indexOutOfRange(source: name, index: index, count: entries.count)
        }
        let e = entries[index]
        let where_ = "\(name): line of index \(e.index)"
        let objects = try DetectionLabel.parse(e.label, source: name, record: "index \(e.index)")
        let bytes = try readFileBytes((imageRoot as NSString).appendingPathComponent(e.path), referencedBy: where_)
        return EncodedSample(imageBytes: bytes, objects: objects, rawLabel: e.label, id: UInt64(max(0, e.index)), source: "\(where_) (\(e.path))")
    }
}
