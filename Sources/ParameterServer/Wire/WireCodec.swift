/// Turns messages into the two frames sent on the wire (header, payload) and back, validating
/// every received frame before anything uses it.
public struct WireCodec: Sendable {
    /// Largest payload accepted (bytes); a bigger declared length is rejected before any copy.
    public var maxPayloadBytes: Int

    /// Leaves the payload hash of float32 pushes (to a server) and of weight replies (to a
    /// worker) to the receiver, which verifies it in the pass that sums or copies the values
    /// (`Message.pendingChecksum`): one read of the payload instead of two. Off by default;
    /// on where the receiver is `KVServer` or `KVClient`, which verify before using a value.
    public var defersPayloadChecks: Bool

    /// A codec accepting payloads up to `maxPayloadBytes` (default 1 GiB).
    public init(maxPayloadBytes: Int = 1 << 30, defersPayloadChecks: Bool = false) {
        self.maxPayloadBytes = maxPayloadBytes; self.defersPayloadChecks = defersPayloadChecks
    }

    /// Whether `header`'s payload check may be left to the receiver (see `defersPayloadChecks`).
    func defersCheck(of header: MessageHeader, payloadBytes: Int) -> Bool {
        guard defersPayloadChecks, !header.isError, header.encoding == .float32, payloadBytes % 4 == 0 else { return false }
        return header.isReply ? header.command == .pull || header.command == .pushPull
                              : header.command == .push || header.command == .pushPull
    }

    /// The header frame for `message`, with payload length and checksum filled in (from the
    /// payload's remembered hash: no pass over its bytes when it was made by copying).
    public func headerFrame(for message: Message) -> [UInt8] {
        headerFrame(for: message.header, payloadLength: message.payload.count, payloadHash: message.payload.hash)
    }

    /// The header frame for `header` followed by `payload` taken straight from the caller's
    /// memory, so a gradient can be sent without first copying it into a `Message`.
    public func headerFrame(for header: MessageHeader, payload: UnsafeRawBufferPointer) -> [UInt8] {
        headerFrame(for: header, payloadLength: payload.count, payloadHash: WireChecksum.payloadHash(payload))
    }

    /// The header frame for a payload of `payloadLength` bytes already hashed with
    /// `WireChecksum.payloadHash` (one payload sent under several headers is hashed once).
    public func headerFrame(for header: MessageHeader, payloadLength: Int, payloadHash: UInt64) -> [UInt8] {
        var h = header
        h.payloadLength = UInt32(payloadLength)
        h.checksum = 0
        var bytes = h.bytes
        let sum = bytes.withUnsafeBytes { hb in
            WireChecksum.combine(header: UnsafeRawBufferPointer(rebasing: hb[0..<MessageHeader.checksummedByteCount]),
                                 payloadHash: payloadHash)
        }
        bytes.withUnsafeMutableBytes { $0.storeBytes(of: sum.littleEndian, toByteOffset: MessageHeader.checksummedByteCount, as: UInt32.self) }
        return bytes
    }

    /// Both frames as byte arrays: header, payload (a copy; the transports send `Payload`s).
    public func encode(_ message: Message) -> [[UInt8]] {
        [headerFrame(for: message), Array(message.payload)]
    }

    /// Decodes received frames (exactly two: header and payload), checking magic, version,
    /// command, declared length and checksum.
    public func decode(frames: [[UInt8]]) throws(WireError) -> Message {
        guard frames.count == 2 else { throw .wrongFrameCount(frames.count) }
        return try decode(header: frames[0], payload: frames[1])
    }

    /// Decodes a header frame and a copy of its payload frame.
    public func decode(header headerBytes: [UInt8], payload: [UInt8]) throws(WireError) -> Message {
        try decode(header: headerBytes, payload: Payload(payload))
    }

    /// Decodes a header frame and its payload frame, keeping the payload where it is (a
    /// received ZeroMQ frame is read in place). Lengths are checked before the payload is
    /// hashed, so an oversized frame costs no pass over its bytes.
    public func decode(header headerBytes: [UInt8], payload: Payload) throws(WireError) -> Message {
        let decoded: Result<MessageHeader, WireError> = headerBytes.withUnsafeBytes { raw in
            Result { () throws(WireError) in try MessageHeader(decoding: raw) }
        }
        let header = try decoded.get()
        let declared = Int(header.payloadLength)
        guard declared <= maxPayloadBytes else { throw .payloadTooLarge(bytes: declared, limit: maxPayloadBytes) }
        guard declared == payload.count else { throw .payloadLengthMismatch(declared: declared, actual: payload.count) }
        let carriesValues = !header.isError && [.initialize, .push, .pushPull].contains(header.command)
        // Compressed pushes are decoded (and checked for non-finite values) by the server.
        let carriesFloats = carriesValues && header.encoding == .float32
        if payload.storage?.hash == nil, defersCheck(of: header, payloadBytes: payload.count) {
            var message = Message(header: header, payload: payload)
            message.pendingChecksum = headerBytes.withUnsafeBytes { hb in
                Message.PendingChecksum(expected: header.checksum,
                                        headerHash: WireChecksum.headerHash(UnsafeRawBufferPointer(rebasing: hb[0..<MessageHeader.checksummedByteCount])))
            }
            return message
        }
        var scan: Bool?
        let payloadHash: UInt64
        if let known = payload.storage?.hash {
            payloadHash = known  // hashed while copied; a float scan, if needed, is a pass of its own below
        } else if carriesFloats, payload.count % 4 == 0 {
            (payloadHash, scan) = payload.withUnsafeBytes { WireChecksum.hashAndScan(floats: $0) }
        } else {
            payloadHash = payload.hash
        }
        let computed = headerBytes.withUnsafeBytes { hb in
            WireChecksum.combine(header: UnsafeRawBufferPointer(rebasing: hb[0..<MessageHeader.checksummedByteCount]), payloadHash: payloadHash)
        }
        guard computed == header.checksum else { throw .checksumMismatch(expected: header.checksum, computed: computed) }
        var message = Message(header: header, payload: payload)
        if !header.isError, header.command == .restoreState, payload.count % 4 != 0 { throw .payloadNotFloats(bytes: payload.count) }
        if carriesFloats, payload.count % 4 != 0 { throw .payloadNotFloats(bytes: payload.count) }
        if carriesValues, payload.count % header.encoding.unitBytes != 0 {
            throw .payloadNotWholeUnits(bytes: payload.count, encoding: header.encoding)
        }
        guard carriesFloats else { return message }
        message.floatCheck = .allFinite
        if scan ?? true, let hit = try? message.withFloats({ NonFiniteGradients.first(in: $0) }) {
            message.floatCheck = .nonFinite(index: hit.index, value: hit.value)
        }
        return message
    }
}
