/// The fixed 40-byte little-endian header that starts every message.
///
/// | offset | size | field | notes |
/// | ---: | ---: | --- | --- |
/// | 0 | 4 | magic | `0x50445353` ("SSDP" in memory order) |
/// | 4 | 2 | version | `MessageHeader.currentVersion` (3) |
/// | 6 | 1 | command | `Command` raw value; a reply carries its request's command |
/// | 7 | 1 | flags | bit 0: reply, bit 1: error (payload is UTF-8 text saying what failed), bits 2–4: `PayloadEncoding` of the values (0 float32, 1 fp16, 2 bf16, 3 2bit), bits 5–7: 0 |
/// | 8 | 4 | key | parameter key (index of the array) |
/// | 12 | 2 | slice | index of this slice of the key |
/// | 14 | 2 | slice count | slices the key is cut into |
/// | 16 | 4 | sender | worker rank (Int32); server s sends −1−s; −1 = not yet assigned / scheduler |
/// | 20 | 8 | round | sync round (UInt64) |
/// | 28 | 4 | payload length | bytes in the payload frame |
/// | 32 | 4 | request id | chosen by the requester, echoed by the reply (0 = none) |
/// | 36 | 4 | checksum | `WireChecksum` of bytes 0..<36 and the payload |
public struct MessageHeader: Equatable, Sendable {
    /// Size of an encoded header in bytes.
    public static let byteCount = 40
    /// The magic number, first four bytes of every message.
    public static let magic: UInt32 = 0x5044_5353
    /// The protocol version this build speaks (2: request ids, replies echo their command;
    /// 3: the payload encoding in flags bits 2–4).
    public static let currentVersion: UInt16 = 3
    /// Bytes covered by the checksum (everything before it).
    public static let checksummedByteCount = 36

    public var version: UInt16 = MessageHeader.currentVersion
    public var command: Command
    /// True on answers to a request.
    public var isReply: Bool = false
    /// True on a reply saying the request failed (the payload says why).
    public var isError: Bool = false
    /// How the payload's values are encoded (a compressed gradient push; float32 otherwise).
    public var encoding: PayloadEncoding = .float32
    public var key: UInt32 = 0
    public var slice: UInt16 = 0
    public var sliceCount: UInt16 = 1
    public var sender: Int32 = -1
    public var round: UInt64 = 0
    public var payloadLength: UInt32 = 0
    /// The requester's number for this request; its reply carries the same number.
    public var requestID: UInt32 = 0
    public var checksum: UInt32 = 0

    /// A header with the given fields; payload length and checksum are set by `WireCodec`.
    public init(command: Command, isReply: Bool = false, isError: Bool = false, key: UInt32 = 0, slice: UInt16 = 0,
                sliceCount: UInt16 = 1, sender: Int32 = -1, round: UInt64 = 0, requestID: UInt32 = 0) {
        self.command = command; self.isReply = isReply; self.isError = isError; self.key = key; self.slice = slice
        self.sliceCount = sliceCount; self.sender = sender; self.round = round; self.requestID = requestID
    }

    /// The `sender` value of server `rank` (−1−rank; worker ranks are ≥ 0).
    public static func serverSender(rank: Int) -> Int32 { -1 - Int32(rank) }

    /// The header of the reply to this request, sent by `sender`: same command, key, slice,
    /// round and request id, with the reply flag (and the error flag when `isError`).
    public func reply(sender: Int32, isError: Bool = false) -> MessageHeader {
        MessageHeader(command: command, isReply: true, isError: isError, key: key, slice: slice, sliceCount: sliceCount,
                      sender: sender, round: round, requestID: requestID)
    }

    /// Writes the 40 bytes into `buffer` (which must hold at least `byteCount`).
    public func encode(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.byteCount, "header buffer too small")
        buffer.storeBytes(of: Self.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: version.littleEndian, toByteOffset: 4, as: UInt16.self)
        buffer.storeBytes(of: command.rawValue, toByteOffset: 6, as: UInt8.self)
        buffer.storeBytes(of: UInt8((isReply ? 1 : 0) | (isError ? 2 : 0)) | encoding.rawValue << 2, toByteOffset: 7, as: UInt8.self)
        buffer.storeBytes(of: key.littleEndian, toByteOffset: 8, as: UInt32.self)
        buffer.storeBytes(of: slice.littleEndian, toByteOffset: 12, as: UInt16.self)
        buffer.storeBytes(of: sliceCount.littleEndian, toByteOffset: 14, as: UInt16.self)
        buffer.storeBytes(of: sender.littleEndian, toByteOffset: 16, as: Int32.self)
        buffer.storeBytes(of: round.littleEndian, toByteOffset: 20, as: UInt64.self)
        buffer.storeBytes(of: payloadLength.littleEndian, toByteOffset: 28, as: UInt32.self)
        buffer.storeBytes(of: requestID.littleEndian, toByteOffset: 32, as: UInt32.self)
        buffer.storeBytes(of: checksum.littleEndian, toByteOffset: 36, as: UInt32.self)
    }

    /// The encoded bytes.
    public var bytes: [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.byteCount)
        b.withUnsafeMutableBytes { encode(into: $0) }
        return b
    }

    /// Decodes and validates magic, version and command (lengths and checksum are checked by
    /// `WireCodec` against the payload).
    public init(decoding bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count == Self.byteCount else { throw .truncatedHeader(bytes: bytes.count, needed: Self.byteCount) }
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        let magic = load(0, UInt32.self)
        guard magic == Self.magic else { throw .badMagic(found: magic) }
        let version = load(4, UInt16.self)
        guard version == Self.currentVersion else { throw .unsupportedVersion(found: version, supported: Self.currentVersion) }
        let raw = load(6, UInt8.self)
        guard let command = Command(rawValue: raw) else { throw .unknownCommand(raw) }
        let flags = load(7, UInt8.self)
        guard flags >> 5 == 0, let encoding = PayloadEncoding(rawValue: (flags >> 2) & 7) else { throw .unknownFlags(flags) }
        self.init(command: command, isReply: flags & 1 != 0, isError: flags & 2 != 0, key: load(8, UInt32.self),
                  slice: load(12, UInt16.self), sliceCount: load(14, UInt16.self), sender: load(16, Int32.self),
                  round: load(20, UInt64.self), requestID: load(32, UInt32.self))
        self.version = version
        self.encoding = encoding
        self.payloadLength = load(28, UInt32.self)
        self.checksum = load(36, UInt32.self)
    }
}
