import Foundation

/// The RecordIO magic word (dmlc-core `RecordIOWriter::kMagic`).
public let recordIOMagic: UInt32 = 0xCED7_230A

/// Writes dmlc/MXNet RecordIO: each record is `magic, lrec, data, zero padding to 4 bytes`,
/// `lrec` = continuation flag (upper 3 bits) | length (lower 29 bits). A payload containing
/// the magic word at a 4-byte-aligned offset is split there into chunks (flags 1, 2, …, 3) and
/// the magic bytes dropped — the reader puts them back — exactly as dmlc-core does, so MXNet
/// reads these files and we read MXNet's.
public final class RecordIOWriter {
    public let path: String
    private let handle: FileHandle
    /// Byte offset where the next record starts (what `.idx` files store).
    public private(set) var offset: Int = 0

    /// Creates (truncates) the file at `path`.
    public init(path: String) throws {
        self.path = path
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw DataError.unreadable(path: path, reason: "cannot create the file")
        }
        handle = h
    }

    deinit { try? handle.close() }

    /// Appends one record; returns its offset.
    @discardableResult
    public func write(_ payload: [UInt8]) throws -> Int {
        guard payload.count < 1 << 29 else { throw DataError.recordTooLarge(bytes: payload.count) }
        let start = offset
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 16)
        func header(_ flag: UInt32, _ length: Int) {
            appendLE(&out, recordIOMagic)
            appendLE(&out, flag << 29 | UInt32(length))
        }
        let magicBytes: [UInt8] = [0x0A, 0x23, 0xD7, 0xCE]
        var chunkStart = 0
        var i = 0
        while i + 4 <= payload.count - payload.count % 4 {
            if payload[i] == magicBytes[0] && payload[i + 1] == magicBytes[1] && payload[i + 2] == magicBytes[2]
                && payload[i + 3] == magicBytes[3] {
                header(chunkStart == 0 ? 1 : 2, i - chunkStart)
                out.append(contentsOf: payload[chunkStart..<i])
                chunkStart = i + 4
            }
            i += 4
        }
        header(chunkStart != 0 ? 3 : 0, payload.count - chunkStart)
        out.append(contentsOf: payload[chunkStart...])
        let padded = (payload.count + 3) / 4 * 4
        out.append(contentsOf: [UInt8](repeating: 0, count: padded - payload.count))
        try handle.write(contentsOf: out)
        offset += out.count
        return start
    }

    /// Flushes and closes the file.
    public func close() throws { try handle.synchronize(); try handle.close() }
}

func appendLE<T: FixedWidthInteger>(_ bytes: inout [UInt8], _ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}
