import Foundation

/// One undecoded sample: the encoded image, its objects and where it came from.
public struct EncodedSample: Sendable {
    /// JPEG or PNG bytes.
    public var imageBytes: [UInt8]
    /// Ground-truth objects (normalized corners).
    public var objects: [DetectionObject]
    /// The raw label as stored ([header_width, object_width, objects...]); its length is
    /// checked against label_width, and `ssd im2rec` packs it unchanged.
    public var rawLabel: [Float]
    /// The record id (RecordIO id, `.lst` index, or annotation position).
    public var id: UInt64
    /// The record's second id (RecordIO `IRHeader.id2`; 0 for `.lst` and annotations, as
    /// MXNet's im2rec writes it).
    public var id2: UInt64
    /// "file: record N" / "file" — names the sample in errors.
    public var source: String
    /// Creates a sample.
    public init(imageBytes: [UInt8], objects: [DetectionObject], rawLabel: [Float], id: UInt64, id2: UInt64 = 0, source: String) {
        self.imageBytes = imageBytes; self.objects = objects; self.rawLabel = rawLabel; self.id = id; self.id2 = id2; self.source = source
    }
    /// Length of the raw label.
    public var labelLength: Int { rawLabel.count }
}

/// A random-access source of detection samples (RecordIO, image + JSON channels, `.lst`).
/// Implementations must be safe to call from several loader threads at once.
public protocol DetectionDataset: Sendable {
    /// A name for logs and errors (usually a path).
    var name: String { get }
    /// Number of samples.
    var count: Int { get }
    /// Reads sample `index` (0..<count); bad data throws a `DetectionDataError` naming it.
    func sample(at index: Int) throws -> EncodedSample
}

/// Opens a SageMaker/MXNet dataset at a path: a `.rec` (with `.idx` beside it if present),
/// a `.lst` (images relative to its folder or `imageRoot`), or an image channel folder with
/// its `annotationDirectory`.
public func openDetectionDataset(path: String, annotationDirectory: String? = nil, imageRoot: String? = nil) throws -> any DetectionDataset {
    if path.hasSuffix(".rec") {
        let idx = String(path.dropLast(4)) + ".idx"
        return try RecordIODataset(recordPath: path, indexPath: FileManager.default.fileExists(atPath: idx) ? idx : nil)
    }
    if path.hasSuffix(".lst") {
        return try ListFileDataset(listPath: path, imageRoot: imageRoot ?? (path as NSString).deletingLastPathComponent)
    }
    guard let annotationDirectory else {
        throw DetectionDataError.io(path: path, reason: "not a .rec or .lst file, and no annotation directory was given for an image folder")
    }
    return try AnnotatedImageDataset(imageRoot: path, annotationDirectory: annotationDirectory)
}

func readFileBytes(_ path: String, referencedBy: String) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else {
        throw DetectionDataError.imageMissing(path: path, referencedBy: referencedBy)
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw DetectionDataError.io(path: path, reason: "cannot read")
    }
    return [UInt8](data)
}
