import Foundation

/// A golden fixture: named float32 arrays with shapes, as written by
/// `scripts/fixtures/fixture_format.py`.
///
/// Layout (little-endian): ASCII magic "SSDFIXT\0" (8 bytes), uint32 version, uint32 array count;
/// then per array: uint32 name length, UTF-8 name, uint32 rank, rank × int64 dims,
/// product(dims) × float32 values.
public struct Fixture {
    /// The format version this reader understands.
    public static let version: UInt32 = 1
    static let magic: [UInt8] = Swift.Array("SSDFIXT\0".utf8)

    /// One named array.
    public struct Array: Sendable {
        public var shape: [Int]
        public var values: [Float]
    }

    /// Errors reading a fixture file, each saying how to regenerate it.
    public enum LoadError: Error, CustomStringConvertible {
        case unreadable(path: String)
        case badMagic(path: String)
        case wrongVersion(path: String, found: UInt32)
        case truncated(path: String, offset: Int)
        case missing(name: String, path: String, available: [String])

        public var description: String {
            switch self {
            case .unreadable(let p): return "fixture \(p) cannot be read; rerun the script in scripts/fixtures/ that writes it"
            case .badMagic(let p): return "fixture \(p) is not a fixture file (bad magic)"
            case .wrongVersion(let p, let v):
                return "fixture \(p) has version \(v), expected \(Fixture.version); rerun its scripts/fixtures/make_*.py"
            case .truncated(let p, let o): return "fixture \(p) is truncated at byte \(o); rerun its scripts/fixtures/make_*.py"
            case .missing(let n, let p, let a): return "fixture \(p) has no array \(n) (has \(a.sorted().joined(separator: ", ")))"
            }
        }
    }

    /// Path the fixture was read from.
    public let path: String
    /// Arrays by name.
    public private(set) var arrays: [String: Array] = [:]

    /// Reads a fixture file.
    public init(contentsOf url: URL) throws {
        path = url.path
        guard let data = try? Data(contentsOf: url) else { throw LoadError.unreadable(path: path) }
        let bytes = [UInt8](data)
        var o = 0
        func take(_ n: Int) throws -> ArraySlice<UInt8> {
            guard n >= 0, o + n <= bytes.count else { throw LoadError.truncated(path: url.path, offset: o) }
            defer { o += n }
            return bytes[o..<(o + n)]
        }
        func u32() throws -> UInt32 { try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        func i64() throws -> Int64 { Int64(bitPattern: try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }) }
        guard Swift.Array(try take(8)) == Fixture.magic else { throw LoadError.badMagic(path: path) }
        let v = try u32()
        guard v == Fixture.version else { throw LoadError.wrongVersion(path: path, found: v) }
        let count = try u32()
        for _ in 0..<count {
            let nameLength = Int(try u32())
            let name = String(decoding: try take(nameLength), as: UTF8.self)
            let rank = Int(try u32())
            guard rank <= 16 else { throw LoadError.truncated(path: path, offset: o) }
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(Int(try i64())) }
            let n = shape.reduce(1, *)
            let raw = try take(n * 4)
            var values = [Float](repeating: 0, count: n)
            raw.withUnsafeBytes { src in
                values.withUnsafeMutableBytes { dst in dst.copyMemory(from: src) }
            }
            arrays[name] = Array(shape: shape, values: values)
        }
    }

    /// The named array, or an error listing what the fixture has.
    public func array(_ name: String) throws -> Array {
        guard let a = arrays[name] else { throw LoadError.missing(name: name, path: path, available: Swift.Array(arrays.keys)) }
        return a
    }

    /// Values of the named array.
    public func values(_ name: String) throws -> [Float] { try array(name).values }

    /// The first value of the named array as an Int (for scalar parameters stored as arrays).
    public func int(_ name: String) throws -> Int { Int(try values(name)[0]) }
}
