#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Reads MXNet RecordIO (`.rec`) files, sequentially or at `.idx` offsets.
///
/// Reads use `pread`, so one reader may be shared by several loader threads. A reader over
/// bytes in memory (`init(bytes:name:)`) runs the same parsing, for tests and fuzzing.
public final class RecordIOReader: @unchecked Sendable {
    /// Path of the `.rec` file (or the name given to bytes in memory).
    public let path: String
    /// File size in bytes.
    public let fileSize: Int
    private enum Storage { case file(Int32), memory([UInt8]) }
    private let storage: Storage

    /// Opens `path` for reading.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw DetectionDataError.io(path: path, reason: "cannot open: \(String(cString: strerror(errno)))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            close(fd)
            throw DetectionDataError.io(path: path, reason: "cannot stat")
        }
        fileSize = Int(st.st_size)
        storage = .file(fd)
    }

    /// Reads RecordIO from `bytes`; `name` stands for the path in errors.
    public init(bytes: [UInt8], name: String) {
        path = name
        fileSize = bytes.count
        storage = .memory(bytes)
    }

    deinit { if case .file(let fd) = storage { close(fd) } }

    private func readBytes(at offset: Int, count: Int, recordStart: Int) throws -> [UInt8] {
        // Compared without forming offset + count: an offset from a damaged .idx may be huge.
        guard offset >= 0, offset <= fileSize, count <= fileSize - offset else {
            throw DetectionDataError.truncatedRecord(
                file: path, offset: recordStart, needed: count + max(0, min(offset, fileSize) - recordStart),
                available: max(0, fileSize - recordStart))
        }
        switch storage {
        case .memory(let bytes):
            return Array(bytes[offset..<(offset + count)])
        case .file(let fd):
            var buf = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let n = buf.withUnsafeMutableBytes { p in
                    pread(fd, p.baseAddress! + done, count - done, off_t(offset + done))
                }
                if n <= 0 { throw DetectionDataError.io(path: path, reason: "read failed at byte \(offset + done)") }
                done += n
            }
            return buf
        }
    }

    /// Reads the record starting at byte `offset`; returns its payload and the next record's offset.
    public func record(at offset: Int) throws -> (payload: [UInt8], next: Int) {
        var payload: [UInt8] = []
        var pos = offset
        var expectContinuation = false
        while true {
            let head = try readBytes(at: pos, count: 8, recordStart: offset)
            let (magic, lrec) = head.withUnsafeBytes { (readLE32($0, 0), readLE32($0, 4)) }
            guard magic == RecordIOFormat.magic else {
                throw DetectionDataError.badMagic(file: path, offset: pos, found: magic)
            }
            let flag = lrec >> 29
            let length = Int(lrec & ((1 << 29) - 1))
            let padded = length + RecordIOFormat.padding(length)
            let chunk = try readBytes(at: pos + 8, count: padded, recordStart: offset)
            pos += 8 + padded
            switch (flag, expectContinuation) {
            case (0, false):
                return (Array(chunk[0..<length]), pos)
            case (1, false), (2, true):
                payload.append(contentsOf: chunk[0..<length])
                payload.appendLE(RecordIOFormat.magic)
                expectContinuation = true
            case (3, true):
                payload.append(contentsOf: chunk[0..<length])
                return (payload, pos)
            default:
                throw DetectionDataError.badContinuation(file: path, offset: pos - 8 - padded, flag: flag)
            }
        }
    }

    /// Scans the whole file and returns the byte offset of every record.
    public func scanOffsets() throws -> [Int] {
        var offsets: [Int] = []
        var pos = 0
        while pos < fileSize {
            offsets.append(pos)
            pos = try record(at: pos).next
        }
        return offsets
    }

    /// Reads every record payload in file order.
    public func readAll() throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var pos = 0
        while pos < fileSize {
            let r = try record(at: pos)
            out.append(r.payload)
            pos = r.next
        }
        return out
    }
}
