import Foundation

/// The text `.idx` file of `MXIndexedRecordIO`: one `key \t byte_offset \n` line per record.
public enum IndexFile {
    /// One line of an index: the record key and the byte offset of its first magic word.
    public struct Entry: Equatable, Sendable {
        /// The record key (usually the image id).
        public var key: Int
        /// Byte offset of the record in the `.rec` file.
        public var offset: Int
        /// Creates an entry.
        public init(key: Int, offset: Int) { self.key = key; self.offset = offset }
    }

    /// Reads an index file; a malformed line is an error naming the line.
    public static func read(path: String) throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DetectionDataError.io(path: path, reason: "cannot read index file")
        }
        let text = String(decoding: data, as: UTF8.self)
        var entries: [Entry] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let fields = trimmed.split(separator: "\t")
            guard fields.count == 2, let key = Int(fields[0]), let off = Int(fields[1]), off >= 0 else {
                throw DetectionDataError.badLine(
                    file: path, line: n + 1, text: String(line), reason: "expected `key<TAB>offset` with integers")
            }
            entries.append(Entry(key: key, offset: off))
        }
        return entries
    }

    /// Writes an index file and fsyncs it; `reportedAs` names it in errors (the final path
    /// when `path` is a temporary).
    public static func write(_ entries: [Entry], to path: String, reportedAs: String? = nil) throws {
        var text = ""
        for e in entries { text += "\(e.key)\t\(e.offset)\n" }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw DetectionDataError.io(path: reportedAs ?? path, reason: "cannot write index file")
        }
        do {
            try handle.write(contentsOf: Data(text.utf8))
            try handle.synchronize()
            try handle.close()
        } catch {
            throw DetectionDataError.io(path: reportedAs ?? path, reason: "cannot write index file: \(error)")
        }
    }
}
