import Foundation

/// A decoded message: its header and its payload bytes (Float32 values or UTF-8/JSON text,
/// depending on the command).
public struct Message: Equatable, Sendable, CustomStringConvertible {
    public var header: MessageHeader
    /// Shared, not copied, when the message is passed on or sent (see `Payload`).
    public var payload: Payload
    /// For a Float32 payload decoded by `WireCodec` (initialize, push, pushPull): whether it
    /// holds NaN or ±Inf, found in the checksum pass; nil when not checked (a message built
    /// here), so a receiver must check for itself.
    public var floatCheck: FloatCheck?

    /// Set when `WireCodec` (with `defersPayloadChecks`) left the payload's half of the checksum
    /// to the receiver, so the pass that uses the values also hashes them: nothing may act on
    /// such a message's payload, or change any state for it, before `PendingChecksum.verify`
    /// (or `checkPayload`) passed. Nil when the checksum was verified at decoding, or for a
    /// message built here.
    public var pendingChecksum: PendingChecksum?

    /// The checksum a received message must still match, with its header's half already hashed.
    public struct PendingChecksum: Equatable, Sendable {
        /// The checksum the header carries.
        public let expected: UInt32
        /// `WireChecksum.headerHash` of header bytes 0..<36.
        public let headerHash: UInt64

        /// Throws `checksumMismatch` unless a payload with `WireChecksum.payloadHash` `payloadHash`
        /// completes the header's checksum.
        public func verify(payloadHash: UInt64) throws(WireError) {
            let computed = WireChecksum.combine(headerHash: headerHash, payloadHash: payloadHash)
            guard computed == expected else { throw .checksumMismatch(expected: expected, computed: computed) }
        }
    }

    /// Verifies a pending checksum with a pass of its own (hashing and scanning the values, as
    /// the codec would have), for a receiver with nothing to fuse it with; no-op otherwise.
    public mutating func checkPayload() throws(WireError) {
        guard let pending = pendingChecksum else { return }
        let (hash, nonFinite) = payload.withUnsafeBytes { WireChecksum.hashAndScan(floats: $0) }
        try pending.verify(payloadHash: hash)
        pendingChecksum = nil
        floatCheck = .allFinite
        if nonFinite, let hit = try? withFloats({ NonFiniteGradients.first(in: $0) }) {
            floatCheck = .nonFinite(index: hit.index, value: hit.value)
        }
    }

    /// What the codec found in a Float32 payload.
    public enum FloatCheck: Equatable, Sendable {
        case allFinite
        /// The first NaN or ±Inf: its index among the values, and the value.
        case nonFinite(index: Int, value: Float)
    }

    /// A message; `WireCodec.encode` fills in the payload length and checksum.
    public init(header: MessageHeader, payload: Payload = Payload()) {
        self.header = header
        self.payload = payload
    }

    /// Messages are equal when header and payload are (`floatCheck` is derived from them).
    public static func == (a: Message, b: Message) -> Bool { a.header == b.header && a.payload == b.payload }

    /// A message carrying a copy of `payload`.
    public init(header: MessageHeader, payload: [UInt8]) {
        self.init(header: header, payload: Payload(payload))
    }

    /// A message carrying Float32 values (little-endian), copied once.
    public init(header: MessageHeader, floats: UnsafeBufferPointer<Float>) {
        self.init(header: header, payload: Payload(floats: floats))
    }

    /// A message carrying UTF-8 text (error messages, JSON control payloads).
    public init(header: MessageHeader, text: String) {
        self.init(header: header, payload: Array(text.utf8))
    }

    /// A message carrying a JSON-encoded value.
    public init<T: Encodable>(header: MessageHeader, json value: T) throws {
        self.init(header: header, payload: [UInt8](try JSONEncoder().encode(value)))
    }

    /// The payload as Float32 values; throws when its size is not a multiple of 4.
    public func floats() throws(WireError) -> [Float] {
        guard payload.count % 4 == 0 else { throw .payloadNotFloats(bytes: payload.count) }
        var out = [Float](repeating: 0, count: payload.count / 4)
        payload.withUnsafeBytes { src in out.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
        return out
    }

    /// Calls `body` with the payload seen as Float32 values, without copying when the bytes are
    /// suitably aligned (they are for array storage); throws when the size is not whole floats.
    public func withFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        guard payload.count % 4 == 0 else { throw WireError.payloadNotFloats(bytes: payload.count) }
        return try payload.withUnsafeBytes { raw in
            if let base = raw.baseAddress, Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 {
                return try body(UnsafeBufferPointer(start: base.assumingMemoryBound(to: Float.self), count: raw.count / 4))
            }
            return try floats().withUnsafeBufferPointer(body)
        }
    }

    /// The payload as UTF-8 text.
    public var text: String { payload.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    /// The payload decoded from JSON.
    public func json<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: payload.withUnsafeBytes { Data($0) })
    }

    /// One line for logs, e.g. `push key=12 slice=0/2 from W[1] round=40 req=7 bytes=1048576`.
    public var description: String {
        let h = header
        var s = "\(h.command)\(h.isReply ? " reply" : "")\(h.isError ? " error" : "") key=\(h.key) slice=\(h.slice)/\(h.sliceCount)"
        if h.sender >= 0 { s += " from W[\(h.sender)]" } else if h.isReply { s += " from S[\(-1 - Int(h.sender))]" } else { s += " from [?]" }
        s += " round=\(h.round)"
        if h.requestID != 0 { s += " req=\(h.requestID)" }
        s += " bytes=\(payload.count)"
        if h.encoding != .float32 { s += " enc=\(h.encoding)" }
        if h.command == .error || h.isError { s += " \"\(text)\"" }
        return s
    }
}
