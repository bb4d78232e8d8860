import Foundation

/// A labelled image data set in one of the layouts SageMaker's Object Detection accepts:
/// RecordIO (`.rec` + `.idx`), or an image channel with a JSON annotation channel, or an
/// MXNet `.lst` with an image root. Samples are read lazily by index.
public final class DetectionDataset: @unchecked Sendable {
    /// Where the samples come from.
    public enum Source: Sendable {
        case recordIO(rec: String, idx: String?)
        case imagesWithAnnotations(images: String, annotations: String)
        case list(lst: String, imageRoot: String)
    }

    /// One sample's encoded image and label.
    struct Entry {
        var name: String
        var label: DetectionLabel?
        var imagePath: String?
        var recordOffset: Int?
    }

    public let source: Source
    public let description: String
    let entries: [Entry]
    let reader: RecordIOReader?

    /// Number of samples.
    public var count: Int { entries.count }

    /// Opens a data set; labels of JSON and `.lst` sources are read and validated here, so a
    /// bad annotation fails before training. `numClasses` (when given) bounds class ids.
    public init(_ source: Source, numClasses: Int? = nil) throws {
        self.source = source
        switch source {
        case let .recordIO(rec, idx):
            let r = try RecordIOReader(path: rec)
            reader = r
            let offsets = try idx.map { try IndexFile(path: $0).entries.map(\.offset) } ?? r.scanOffsets()
            entries = offsets.enumerated().map { Entry(name: "record \($0.offset) (byte \($0.element))", recordOffset: $0.element) }
            description = rec
        case let .imagesWithAnnotations(images, annotations):
            reader = nil
            let files = (try? FileManager.default.contentsOfDirectory(atPath: annotations)) ?? []
            var list: [Entry] = []
            for file in files.sorted() where file.hasSuffix(".json") {
                let path = (annotations as NSString).appendingPathComponent(file)
                let annotation = try SageMakerAnnotation(path: path)
                let label = try annotation.label(numClasses: numClasses, path: path)
                var image = (images as NSString).appendingPathComponent(annotation.file)
                if !FileManager.default.fileExists(atPath: image) {
                    // `file` may carry the channel's folder name; fall back to the base name.
                    image = (images as NSString).appendingPathComponent((annotation.file as NSString).lastPathComponent)
                }
                list.append(Entry(name: path, label: label, imagePath: image))
            }
            entries = list
            description = annotations
        case let .list(lst, root):
            reader = nil
            entries = try ListFile(path: lst).entries.enumerated().map { n, e in
                let label = try DetectionLabel(raw: e.label, path: lst, record: "line \(n + 1)")
                try label.validate(numClasses: numClasses, path: lst, record: "line \(n + 1)")
                return Entry(name: "\(lst) line \(n + 1)", label: label, imagePath: (root as NSString).appendingPathComponent(e.path))
            }
            description = lst
        }
        guard !entries.isEmpty else { throw DataError.emptyDataset(path: description) }
    }

    /// Name of sample `index` for messages (file, record or line).
    public func name(_ index: Int) -> String { entries[index].name }

    /// Decodes sample `index`: its RGB image and label (validated).
    public func sample(_ index: Int, numClasses: Int? = nil) throws -> (image: RGBImage, label: DetectionLabel) {
        let e = entries[index]
        if let offset = e.recordOffset, let reader {
            let record = try ImageRecord(payload: try reader.record(at: offset).payload, path: reader.path, record: index)
            let label = try DetectionLabel(raw: record.label, path: reader.path, record: e.name)
            try label.validate(numClasses: numClasses, path: reader.path, record: e.name)
            return (try ImageCodec.decode(record.image, source: "\(reader.path) \(e.name)"), label)
        }
        guard let path = e.imagePath else { throw DataError.emptyDataset(path: description) }
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw DataError.unreadable(path: path, reason: "image file missing (named by \(e.name))")
        }
        return (try ImageCodec.decode([UInt8](bytes), source: path), e.label ?? DetectionLabel(objects: []))
    }
}

extension DetectionDataset {
    /// Sample `index`'s encoded image bytes (checked to decode) and label, for repacking.
    public func encodedSample(_ index: Int) throws -> (bytes: [UInt8], label: DetectionLabel) {
        let e = entries[index]
        if let offset = e.recordOffset, let reader {
            let record = try ImageRecord(payload: try reader.record(at: offset).payload, path: reader.path, record: index)
            return (record.image, try DetectionLabel(raw: record.label, path: reader.path, record: e.name))
        }
        guard let path = e.imagePath, let data = FileManager.default.contents(atPath: path) else {
            throw DataError.unreadable(path: e.imagePath ?? description, reason: "image file missing (named by \(e.name))")
        }
        let bytes = [UInt8](data)
        _ = try ImageCodec.decode(bytes, source: path)
        return (bytes, e.label ?? DetectionLabel(objects: []))
    }
}
