/// The bytes of a message's payload: immutable, and shared — never copied — between a received
/// frame, the `Message` made from it, and the frames that send it on. A server's round reply is
/// one `Payload` handed to ZeroMQ once per worker; a received gradient is read where ZeroMQ put
/// it.
///
/// Its memory is either allocated here (`init(copying:)`, which hashes the bytes while it
/// copies them, so sending costs no separate checksum pass) or adopted from an owner that keeps
/// it alive (`init(adopting:owner:)`, a received ZeroMQ frame, hashed when the codec checks it).
public struct Payload: RandomAccessCollection, Equatable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// The memory behind a payload. Immutable after creation; released when the last payload,
    /// message or queued frame holding it is gone.
    final class Storage: @unchecked Sendable {
        let base: UnsafeRawPointer
        let count: Int
        /// `WireChecksum.payloadHash` of the bytes, when known at creation.
        let hash: UInt64?
        /// What keeps adopted memory alive (nil: allocated here, freed in deinit).
        private let owner: AnyObject?

        init(copying bytes: UnsafeRawBufferPointer) {
            let memory = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(bytes.count, 1), alignment: 64)
            hash = WireChecksum.copyAndHash(bytes, to: memory)
            base = UnsafeRawPointer(memory); count = bytes.count; owner = nil
        }

        init(adopting bytes: UnsafeRawBufferPointer, owner: AnyObject, hash: UInt64? = nil) {
            base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
            count = bytes.count; self.owner = owner; self.hash = hash
        }

        deinit { if owner == nil { UnsafeMutableRawPointer(mutating: base).deallocate() } }

        var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
    }

    let storage: Storage?

    /// No bytes.
    public init() { storage = nil }

    /// A copy of `bytes` (hashed while copied).
    public init(copying bytes: UnsafeRawBufferPointer) { storage = bytes.isEmpty ? nil : Storage(copying: bytes) }

    /// A copy of `bytes`.
    public init(_ bytes: [UInt8]) { self = bytes.withUnsafeBytes { Payload(copying: $0) } }

    /// Little-endian Float32 values (copied once, hashed on the way).
    public init(floats: UnsafeBufferPointer<Float>) { self.init(copying: UnsafeRawBufferPointer(floats)) }

    /// `bytes` where they are, kept valid by `owner` for as long as the payload lives (a
    /// received ZeroMQ frame). The caller must not change them afterwards.
    public init(adopting bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        storage = bytes.isEmpty ? nil : Storage(adopting: bytes, owner: owner)
    }

    /// `bytes` where they are, kept valid and unchanged by `owner`, whose `WireChecksum.payloadHash`
    /// the caller already knows (computed in the pass that wrote them).
    init(adopting bytes: UnsafeRawBufferPointer, owner: AnyObject, hash: UInt64) {
        storage = bytes.isEmpty ? nil : Storage(adopting: bytes, owner: owner, hash: hash)
    }

    public init(arrayLiteral elements: UInt8...) { self.init(elements) }

    public var startIndex: Int { 0 }
    public var endIndex: Int { storage?.count ?? 0 }
    public subscript(position: Int) -> UInt8 {
        precondition(position >= 0 && position < endIndex, "payload index \(position) out of range 0..<\(endIndex)")
        return storage!.base.load(fromByteOffset: position, as: UInt8.self)
    }

    /// Calls `body` with the bytes (valid during the call).
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(storage?.bytes ?? UnsafeRawBufferPointer(start: nil, count: 0))
    }

    public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        try withUnsafeBytes { raw in try body(raw.bindMemory(to: UInt8.self)) }
    }

    /// `WireChecksum.payloadHash` of the bytes: remembered from the copy that made them, or
    /// computed now (one pass) for adopted bytes.
    public var hash: UInt64 { storage?.hash ?? withUnsafeBytes { WireChecksum.payloadHash($0) } }

    public static func == (a: Payload, b: Payload) -> Bool {
        guard a.count == b.count else { return false }
        if a.storage === b.storage { return true }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }

    public var description: String { "\(count) bytes" }
}
