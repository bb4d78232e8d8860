import Foundation

/// MXNet's NDArray list file (`mx.nd.save` / `.params` checkpoints), little-endian:
/// `u64 0x112, u64 0, u64 count`, then per array `u32 magic 0xF993FAC9 (V2), i32 storage type
/// (0 = dense), i32 ndim, ndim × i64 dims, i32 dev_type, i32 dev_id, i32 dtype (0 = float32),
/// data`, then `u64 name count` and per name `u64 length, UTF-8 bytes`. Checkpoints name
/// arguments `arg:<name>` and auxiliary states `aux:<name>`.
public enum MXNetParams {
    /// One named array.
    public struct Array: Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) { self.name = name; self.shape = shape; self.values = values }
    }

    /// Problems reading a `.params` file, naming the file, the byte offset and what was expected.
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case unreadable(path: String)
        case truncated(path: String, offset: Int, needed: Int)
        case badMagic(path: String, offset: Int, found: UInt64, expected: String)
        case unsupported(path: String, offset: Int, what: String)
        case nameCountMismatch(path: String, arrays: Int, names: Int)

        public var description: String {
            switch self {
            case let .unreadable(p): return "\(p): cannot be read"
            case let .truncated(p, o, n): return "\(p): truncated at byte \(o) (needs \(n) more bytes); the file is incomplete"
            case let .badMagic(p, o, f, e): return "\(p): byte \(o): found 0x\(String(f, radix: 16)), expected \(e); not an MXNet .params file"
            case let .unsupported(p, o, w): return "\(p): byte \(o): \(w) is not supported (dense float32/float64/float16 arrays only)"
            case let .nameCountMismatch(p, a, n): return "\(p): \(a) arrays but \(n) names"
            }
        }
    }

    static let listMagic: UInt64 = 0x112
    static let v2Magic: UInt32 = 0xF993_FAC9, v3Magic: UInt32 = 0xF993_FACA, v1Magic: UInt32 = 0xF993_FAC8

    /// Reads every array of a `.params` file.
    public static func read(path: String) throws -> [Array] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Error.unreadable(path: path) }
        return try decode([UInt8](data), path: path)
    }

    /// Decodes `.params` bytes; `path` labels errors.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>") throws -> [Array] {
        var o = 0
        func take(_ n: Int) throws -> ArraySlice<UInt8> {
            guard n >= 0, n <= bytes.count - o else { throw Error.truncated(path: path, offset: o, needed: n - max(0, bytes.count - o)) }
            defer { o += n }
            return bytes[o..<(o + n)]
        }
        // `count` elements of `size` bytes, checked before multiplying: a damaged shape may
        // declare more elements than any file holds (and than Int can count in bytes).
        func take(elements count: Int, size: Int) throws -> ArraySlice<UInt8> {
            guard count <= (bytes.count - o) / size else {
                let (needed, overflow) = count.multipliedReportingOverflow(by: size)
                throw Error.truncated(path: path, offset: o, needed: overflow ? Int.max : needed - (bytes.count - o))
            }
            return try take(count * size)
        }
        // A u64 that must be a count of at most `limit` (compared before converting to Int).
        func boundedCount(_ what: String, limit: UInt64) throws -> Int {
            let at = o
            let v = try u64()
            guard v <= limit else { throw Error.unsupported(path: path, offset: at, what: "\(what) of \(v)") }
            return Int(v)
        }
        func u64() throws -> UInt64 { try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
        func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func i32() throws -> Int32 { Int32(bitPattern: try u32()) }
        let magic = try u64()
        guard magic == listMagic else { throw Error.badMagic(path: path, offset: 0, found: magic, expected: "0x112 (NDArray list)") }
        _ = try u64()
        let count = try u64()
        guard count < 1 << 20 else { throw Error.unsupported(path: path, offset: 16, what: "an array count of \(count)") }
        var shapes: [[Int]] = [], values: [[Float]] = []
        for _ in 0..<count {
            let start = o
            let m = try u32()
            guard m == v2Magic || m == v3Magic else {
                throw Error.badMagic(path: path, offset: start, found: UInt64(m), expected: "0xf993fac9 (NDArray V2)")
            }
            let stype = try i32()
            guard stype == 0 else { throw Error.unsupported(path: path, offset: start + 4, what: "storage type \(stype)") }
            let ndim = Int(try i32())
            guard (0...32).contains(ndim) else { throw Error.unsupported(path: path, offset: start + 8, what: "ndim \(ndim)") }
            var shape: [Int] = []
            for _ in 0..<ndim {
                let d = Int64(bitPattern: try u64())
                guard d >= 0, d < 1 << 32 else { throw Error.unsupported(path: path, offset: o - 8, what: "dimension \(d)") }
                shape.append(Int(d))
            }
            if ndim == 0 { shapes.append([]); values.append([]); continue }
            _ = try i32(); _ = try i32()  // device type and id
            let dtype = try i32()
            var n = 1
            for d in shape {
                let (product, overflow) = n.multipliedReportingOverflow(by: d)
                guard !overflow else { throw Error.unsupported(path: path, offset: start + 12, what: "shape \(shape) (too many elements)") }
                n = product
            }
            switch dtype {
            case 0:
                let raw = try take(elements: n, size: 4)
                var v = [Float](repeating: 0, count: n)
                raw.withUnsafeBytes { src in v.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
                values.append(v)
            case 1:
                let raw = try take(elements: n, size: 8)
                var v = [Double](repeating: 0, count: n)
                raw.withUnsafeBytes { src in v.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
                values.append(v.map(Float.init))
            case 2:
                let raw = try take(elements: n, size: 2)
                var v = [UInt16](repeating: 0, count: n)
                raw.withUnsafeBytes { src in v.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
                values.append(v.map { Float(Float16(bitPattern: $0)) })
            default:
                throw Error.unsupported(path: path, offset: o - 4, what: "dtype \(dtype)")
            }
            shapes.append(shape)
        }
        // Each name takes at least its 8-byte length, which bounds a believable name count.
        let nameCount = try boundedCount("a name count", limit: UInt64(bytes.count - o) / 8)
        var names: [String] = []
        for _ in 0..<nameCount {
            let length = try boundedCount("a name length", limit: (1 << 16) - 1)
            names.append(String(decoding: try take(length), as: UTF8.self))
        }
        guard names.isEmpty || names.count == shapes.count else {
            throw Error.nameCountMismatch(path: path, arrays: shapes.count, names: names.count)
        }
        return shapes.indices.map { Array(name: names.isEmpty ? "\($0)" : names[$0], shape: shapes[$0], values: values[$0]) }
    }

    /// Encodes arrays as MXNet's `mx.nd.save` does (V2, dense float32 on cpu(0)).
    public static func encode(_ arrays: [Array]) -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(listMagic); put(UInt64(0)); put(UInt64(arrays.count))
        for a in arrays {
            precondition(a.shape.reduce(1, *) == a.values.count, "\(a.name): shape \(a.shape) does not hold \(a.values.count) values")
            put(v2Magic); put(Int32(0)); put(Int32(a.shape.count))
            for d in a.shape { put(Int64(d)) }
            put(Int32(1)); put(Int32(0)); put(Int32(0))
            a.values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        put(UInt64(arrays.count))
        for a in arrays {
            let name = Swift.Array(a.name.utf8)
            put(UInt64(name.count)); out.append(contentsOf: name)
        }
        return out
    }

    /// Writes arrays to `path` atomically (`DurableFile`: a crash or a full disk leaves the
    /// previous file).
    public static func write(_ arrays: [Array], to path: String) throws {
        try encode(arrays).withUnsafeBytes { try DurableFile.write($0, to: path) }
    }
}
