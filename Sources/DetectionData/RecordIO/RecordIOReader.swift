import Foundation

/// Reads dmlc/MXNet RecordIO files: sequentially, or at the offsets of an `.idx` file.
/// Every malformed byte is a `DataError` naming the file and offset — never a crash.
public struct RecordIOReader {
    public let path: String
    /// The whole file (memory-mapped when possible).
    let data: Data

    /// Opens `path`.
    public init(path: String) throws {
        self.path = path
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw DataError.unreadable(path: path, reason: "\(error.localizedDescription)")
        }
    }

    /// Size of the file in bytes.
    public var byteCount: Int { data.count }

    /// Reads the record starting at byte `offset`; returns it and the offset of the next one.
    public func record(at offset: Int) throws -> (payload: [UInt8], next: Int) {
        var o = offset
        var payload: [UInt8] = []
        var expectingContinuation = false
        while true {
            guard o + 8 <= data.count else {
                throw DataError.truncated(path: path, offset: o, needed: 8, available: max(0, data.count - o))
            }
            let magic = readLE(UInt32.self, at: o)
            guard magic == recordIOMagic else { throw DataError.badMagic(path: path, offset: o, found: magic) }
            let lrec = readLE(UInt32.self, at: o + 4)
            let flag = lrec >> 29, length = Int(lrec & ((1 << 29) - 1))
            let padded = (length + 3) / 4 * 4
            guard o + 8 + padded <= data.count else {
                throw DataError.truncated(path: path, offset: o + 8, needed: padded, available: data.count - o - 8)
            }
            switch (flag, expectingContinuation) {
            case (0, false), (1, false): break
            case (2, true), (3, true): payload.append(contentsOf: [0x0A, 0x23, 0xD7, 0xCE])
            default: throw DataError.badContinuation(path: path, offset: o, flag: flag)
            }
            payload.append(contentsOf: data[(data.startIndex + o + 8)..<(data.startIndex + o + 8 + length)])
            o += 8 + padded
            if flag == 0 || flag == 3 { return (payload, o) }
            expectingContinuation = true
        }
    }

    /// Every record in file order with its offset.
    public func allRecords() throws -> [(offset: Int, payload: [UInt8])] {
        var out: [(Int, [UInt8])] = []
        var o = 0
        while o < data.count {
            let (payload, next) = try record(at: o)
            out.append((o, payload))
            o = next
        }
        return out
    }

    /// Offsets of every record, by scanning the file (what `ssd im2rec` writes into `.idx`).
    public func scanOffsets() throws -> [Int] {
        var offsets: [Int] = []
        var o = 0
        while o < data.count {
            offsets.append(o)
            o = try record(at: o).next
        }
        return offsets
    }

    private func readLE<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        var v: T = 0
        withUnsafeMutableBytes(of: &v) { dst in
            data.copyBytes(to: dst.bindMemory(to: UInt8.self), from: (data.startIndex + offset)..<(data.startIndex + offset + MemoryLayout<T>.size))
        }
        return T(littleEndian: v)
    }
}
