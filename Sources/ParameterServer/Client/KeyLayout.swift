/// Where every key's values live across the servers (MXNet `EncodeDefaultKey`): an array
/// smaller than `bigArrayBound` goes whole to server `(key · 9973) mod S`; a larger one is
/// cut into S nearly equal slices, slice i on server i, so M servers carry about equal bytes.
public struct KeyLayout: Equatable, Sendable {
    /// One slice of one key.
    public struct Part: Equatable, Sendable {
        public var server: Int
        public var slice: UInt16
        public var sliceCount: UInt16
        /// Offset and length of the slice in the key's flat array.
        public var offset: Int
        public var count: Int
    }

    public let numServers: Int
    public let bigArrayBound: Int
    /// Parts of every key, by key.
    public private(set) var parts: [Int: [Part]] = [:]

    /// The layout of keys with the given element counts (MXNet's default bound: 1 000 000).
    public init(counts: [Int: Int], numServers: Int, bigArrayBound: Int = 1_000_000) {
        self.numServers = max(1, numServers)
        self.bigArrayBound = bigArrayBound
        for (key, n) in counts {
            if n < bigArrayBound || self.numServers == 1 {
                parts[key] = [Part(server: (key &* 9973) % self.numServers, slice: 0, sliceCount: 1, offset: 0, count: n)]
            } else {
                let s = self.numServers
                parts[key] = (0..<s).map { i in
                    let lo = Int((Double(n) / Double(s) * Double(i)).rounded())
                    let hi = Int((Double(n) / Double(s) * Double(i + 1)).rounded())
                    return Part(server: i, slice: UInt16(i), sliceCount: UInt16(s), offset: lo, count: hi - lo)
                }
            }
        }
    }

    /// Floats held by each server.
    public var loadPerServer: [Int] {
        var load = [Int](repeating: 0, count: numServers)
        for p in parts.values.joined() { load[p.server] += p.count }
        return load
    }
}
