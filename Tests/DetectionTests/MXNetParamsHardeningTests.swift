import Testing
@testable import Detection

/// Damaged `.params` headers whose sizes once trapped (Int overflow or a UInt64 → Int
/// conversion) before any bounds check: each must be a `MXNetParams.Error`.
@Suite("MXNet .params reader on damaged sizes")
struct MXNetParamsHardeningTests {
    private func u64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }
    private func u32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }

    /// One V2 dense array header with `dims` and dtype, and no data.
    private func header(dims: [UInt64], dtype: UInt32 = 0) -> [UInt8] {
        u64(0x112) + u64(0) + u64(1) + u32(0xF993_FAC9) + u32(0) + u32(UInt32(dims.count)) + dims.flatMap(u64) + u32(1) + u32(0) + u32(dtype)
    }

    @Test("a shape whose element count overflows Int is refused", arguments: [
        [1 << 31, 1 << 31, 1 << 31],      // 2^93 elements
        [(1 << 32) - 1, (1 << 32) - 1],   // just under 2^64
    ] as [[UInt64]])
    func shapeOverflow(dims: [UInt64]) {
        #expect(throws: MXNetParams.Error.self) { try MXNetParams.decode(header(dims: dims), path: "x.params") }
    }

    @Test("element counts whose byte size overflows Int are truncation errors", arguments: [0, 1, 2] as [UInt32])
    func byteSizeOverflow(dtype: UInt32) {
        // 2^31 × 2^31 = 2^62 elements: 2^64 bytes of float32 — the multiplication itself overflowed.
        #expect(throws: MXNetParams.Error.self) { try MXNetParams.decode(header(dims: [1 << 31, 1 << 31], dtype: dtype), path: "x.params") }
    }

    @Test("name counts and name lengths beyond Int or the file are refused")
    func hugeNames() throws {
        let empty = u64(0x112) + u64(0) + u64(0)
        #expect(throws: MXNetParams.Error.self) { try MXNetParams.decode(empty + u64(.max), path: "x.params") }
        #expect(throws: MXNetParams.Error.self) { try MXNetParams.decode(empty + u64(1 << 63), path: "x.params") }
        let one = MXNetParams.encode([MXNetParams.Array(name: "arg:w", shape: [1], values: [2])])
        var damaged = one
        let lengthAt = one.count - 5 - 8   // the u64 length of the only name
        damaged.replaceSubrange(lengthAt..<(lengthAt + 8), with: u64(.max))
        #expect(throws: MXNetParams.Error.self) { try MXNetParams.decode(damaged, path: "x.params") }
        #expect(try MXNetParams.decode(one, path: "x.params") == [MXNetParams.Array(name: "arg:w", shape: [1], values: [2])])
    }
}
