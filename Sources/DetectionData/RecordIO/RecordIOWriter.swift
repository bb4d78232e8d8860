import Foundation

/// Writes MXNet-compatible RecordIO (`.rec`) and, optionally, its `.idx` index.
///
/// Byte-compatible with `mx.recordio.MXIndexedRecordIO(idx, rec, 'w')`: each record is split
/// at 4-byte-aligned occurrences of the magic word (continuation chunks), padded to 4 bytes,
/// and the index holds `key \t offset` of each record's first magic word.
public final class RecordIOWriter {
    /// Path of the `.rec` file.
    public let path: String
    private let handle: FileHandle
    private var offset = 0
    /// Index entries written so far (key, byte offset).
    public private(set) var index: [IndexFile.Entry] = []

    /// Creates (truncates) the `.rec` file at `path`.
    public init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let h = FileHandle(forWritingAtPath: path)
        else { throw DetectionDataError.io(path: path, reason: "cannot create file") }
        handle = h
    }

    deinit { try? handle.close() }

    /// Encodes one payload as RecordIO chunks (exposed for byte-level tests).
    public static func encode(payload: [UInt8]) throws -> [UInt8] {
        guard payload.count <= RecordIOFormat.maxChunkLength else {
            throw DetectionDataError.imageEncode(
                reason: "record of \(payload.count) bytes exceeds the RecordIO limit of 2^29 - 1")
        }
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 16)
        var start = 0
        let aligned = payload.count & ~3
        payload.withUnsafeBytes { p in
            var i = 0
            while i < aligned {
                if readLE32(p, i) == RecordIOFormat.magic {
                    out.appendLE(RecordIOFormat.magic)
                    out.appendLE(RecordIOFormat.lrec(flag: start == 0 ? 1 : 2, length: i - start))
                    out.append(contentsOf: p[start..<i])
                    start = i + 4
                }
                i += 4
            }
        }
        out.appendLE(RecordIOFormat.magic)
        out.appendLE(RecordIOFormat.lrec(flag: start == 0 ? 0 : 3, length: payload.count - start))
        out.append(contentsOf: payload[start...])
        out.append(contentsOf: [UInt8](repeating: 0, count: RecordIOFormat.padding(payload.count - start)))
        return out
    }

    /// Appends one record under `key`; returns its byte offset.
    @discardableResult
    public func write(payload: [UInt8], key: Int) throws -> Int {
        let bytes = try Self.encode(payload: payload)
        let at = offset
        do { try handle.write(contentsOf: bytes) } catch {
            throw DetectionDataError.io(path: path, reason: "write failed: \(error)")
        }
        offset += bytes.count
        index.append(IndexFile.Entry(key: key, offset: at))
        return at
    }

    /// Appends an image record (header + label + image bytes) under `key = record.id`.
    @discardableResult
    public func write(_ record: ImageRecord) throws -> Int {
        try write(payload: record.encoded(), key: Int(record.id))
    }

    /// Flushes and closes the file, and writes the `.idx` file if `indexPath` is given.
    public func close(indexPath: String? = nil) throws {
        do { try handle.synchronize(); try handle.close() } catch {
            throw DetectionDataError.io(path: path, reason: "close failed: \(error)")
        }
        if let indexPath { try IndexFile.write(index, to: indexPath) }
    }
}
