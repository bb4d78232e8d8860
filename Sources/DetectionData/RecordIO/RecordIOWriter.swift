#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes MXNet-compatible RecordIO (`.rec`) and, optionally, its `.idx` index.
///
/// Byte-compatible with `mx.recordio.MXIndexedRecordIO(idx, rec, 'w')`: each record is split
/// at 4-byte-aligned occurrences of the magic word (continuation chunks), padded to 4 bytes,
/// and the index holds `key \t offset` of each record's first magic word.
///
/// Nothing appears at `path` until `close` succeeds: records go to a temporary file beside it,
/// which `close` fsyncs and renames over `path` (after the index, written the same way), and
/// `discard` — or dropping an unclosed writer — removes. A failed or interrupted run therefore
/// leaves the previous files (or none), never a partial `.rec` that would train without
/// complaint.
public final class RecordIOWriter {
    /// Path of the `.rec` file.
    public let path: String
    /// Where the records are written until `close` renames it to `path`.
    let temporaryPath: String
    private let handle: FileHandle
    private var offset = 0
    private var finished = false
    /// Index entries written so far (key, byte offset).
    public private(set) var index: [IndexFile.Entry] = []

    /// Starts a `.rec` file that will replace `path` when `close` succeeds.
    public init(path: String) throws {
        self.path = path
        temporaryPath = temporarySibling(of: path)
        guard FileManager.default.createFile(atPath: temporaryPath, contents: nil),
            let h = FileHandle(forWritingAtPath: temporaryPath)
        else { throw DetectionDataError.io(path: path, reason: "cannot create file (temporary \(temporaryPath))") }
        handle = h
    }

    deinit { if !finished { discard() } }

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

    /// Writes the `.idx` file (if `indexPath` is given) and the `.rec`, each fsynced and
    /// renamed into place; on any failure both temporaries are removed and the old files stay.
    public func close(indexPath: String? = nil) throws {
        precondition(!finished, "RecordIOWriter closed twice")
        finished = true
        var indexTemporary: String?
        do {
            do { try handle.synchronize(); try handle.close() } catch {
                throw DetectionDataError.io(path: path, reason: "close failed: \(error)")
            }
            if let indexPath {
                let temporary = temporarySibling(of: indexPath)
                indexTemporary = temporary
                try IndexFile.write(index, to: temporary, reportedAs: indexPath)
                try renameIntoPlace(temporary, indexPath)
                indexTemporary = nil
            }
            try renameIntoPlace(temporaryPath, path)
        } catch {
            unlink(temporaryPath)
            if let indexTemporary { unlink(indexTemporary) }
            throw error
        }
    }

    /// Abandons the file: closes and removes the temporary, leaving `path` as it was.
    public func discard() {
        guard !finished else { return }
        finished = true
        try? handle.close()  // the file is being deleted: a close error changes nothing
        unlink(temporaryPath)
    }
}

/// A unique temporary name in the same directory as `path` (so `rename` is atomic).
func temporarySibling(of path: String) -> String {
    let url = URL(fileURLWithPath: path)
    let name = ".\(url.lastPathComponent).tmp-\(getpid())-\(UUID().uuidString.prefix(8))"
    return url.deletingLastPathComponent().appendingPathComponent(name).path
}

/// Renames `from` over `to` and fsyncs the directory, so the new name survives a crash.
func renameIntoPlace(_ from: String, _ to: String) throws {
    guard rename(from, to) == 0 else {
        throw DetectionDataError.io(path: to, reason: "cannot rename \(from) into place: \(String(cString: strerror(errno)))")
    }
    let dir = open(URL(fileURLWithPath: to).deletingLastPathComponent().path, O_RDONLY)
    if dir >= 0 { _ = fsync(dir); close(dir) }
}
