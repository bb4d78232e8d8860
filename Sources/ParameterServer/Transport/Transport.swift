import Foundation

/// Moves framed messages between this process and its peers. Both implementations frame with
/// the same `WireCodec` (header frame + payload frame) and decode every received frame before
/// handing it on, so a test through `InProcessTransport` exercises the bytes ZeroMQ carries.
///
/// Not thread-safe: one thread uses a transport (ZeroMQ sockets may not be shared).
public protocol Transport: AnyObject {
    /// The codec framing every message.
    var codec: WireCodec { get }
    /// Sends an encoded header frame and `payload` to `peer`. The payload is handed over, not
    /// copied: the transport keeps it alive until its bytes have left (ZeroMQ zero-copy).
    func send(headerFrame: [UInt8], payload: Payload, to peer: PeerID) throws(TransportError)
    /// The next message from any peer, or nil once `deadline` (seconds on `now()`'s clock) passes.
    func receive(deadline: Double) throws(TransportError) -> Received?
    /// Seconds on this transport's clock (`MonotonicClock` for ZeroMQ, a virtual clock in-process).
    func now() -> Double
    /// Where `peer` is, for people reading logs: the IP address it sends from, or its endpoint
    /// (never a routing id); nil when unknown.
    func address(of peer: PeerID) -> String?
    /// Refuses incoming payload frames larger than `bytes` from now on: the codec rejects them,
    /// and ZeroMQ (`ZMQ_MAXMSGSIZE`) drops connections made later that send one, before
    /// buffering it.
    func limitIncomingPayloads(toBytes bytes: Int)
    /// Where send, receive and checksum times go (nil: not measured).
    var profile: RoundProfile? { get }
    /// Sends `header` with a payload read from the caller's memory, where the transport can
    /// without copying it (ZeroMQ, for large payloads): hashed in place, then handed over. The
    /// caller keeps the bytes allocated and unchanged until the peer's reply to this message
    /// arrived (a peer answers only after it received every byte, and ZeroMQ reads a frame only
    /// while writing it to the socket — it only releases it afterwards), or until
    /// `reclaimBorrowedPayloads()` returned.
    func send(_ header: MessageHeader, borrowing payload: UnsafeRawBufferPointer, to peer: PeerID) throws(TransportError)
    /// Makes sure no borrowed payload is read any more, for a caller that gives up waiting for
    /// replies (an error) and may then free its buffers: ZeroMQ drops every message still queued
    /// (its sockets close without linger, and this transport sends nothing afterwards).
    func reclaimBorrowedPayloads()
    /// Offers `peer` a shared-memory ring of `bytes` for large payloads, asking one of
    /// `repliesBytes` back, where the transport has them (`ZeroMQTransport` made with
    /// `sharedMemory`); returns without waiting for an answer.
    func offerSharedMemory(bytes: Int, repliesBytes: Int, to peer: PeerID) throws(TransportError)
    /// How large payloads travelled (shared memory or socket), for status lines; nil when the
    /// transport does not tell.
    var payloadPaths: String? { get }
}

extension Transport {
    /// Sends `message` to `peer` (its payload is shared with the transport, not copied).
    public func send(_ message: Message, to peer: PeerID) throws(TransportError) {
        let frame = profile.measure(.checksum) { codec.headerFrame(for: message) }
        try send(headerFrame: frame, payload: message.payload, to: peer)
    }

    /// Sends `header` with a payload from the caller's memory, which is read during the call
    /// only: it is copied once, and hashed in the same pass (`Payload(copying:)`), into memory
    /// the transport then sends without another copy.
    public func send(_ header: MessageHeader, payload: UnsafeRawBufferPointer, to peer: PeerID) throws(TransportError) {
        let owned = profile.measure(.send) { Payload(copying: payload) }
        try send(Message(header: header, payload: owned), to: peer)
    }

    /// Copies (transports without zero-copy sends: the bytes are read during the call only).
    public func send(_ header: MessageHeader, borrowing payload: UnsafeRawBufferPointer, to peer: PeerID) throws(TransportError) {
        try send(header, payload: payload, to: peer)
    }

    /// Nothing borrowed, nothing to reclaim.
    public func reclaimBorrowedPayloads() {}

    /// No shared memory: every payload travels in the transport's messages.
    public func offerSharedMemory(bytes: Int, repliesBytes: Int, to peer: PeerID) throws(TransportError) {}

    public var payloadPaths: String? { nil }
}

/// What a transport received: a decoded message, or frames the codec rejected (so the
/// receiver can answer the sender with the reason).
public enum Received: Sendable {
    case message(Message, from: PeerID)
    case malformed(WireError, from: PeerID)

    /// The peer the frames came from.
    public var peer: PeerID {
        switch self {
        case .message(_, let p), .malformed(_, let p): return p
        }
    }
}

/// A transport-level name of a peer: a ZeroMQ routing id on a server's ROUTER, the server's
/// endpoint on a worker, a name in-process. Logs name peers by role and rank where known.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    public var bytes: [UInt8]

    /// A peer identity from raw bytes.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// A peer identity from a string (endpoints, in-process names).
    public init(_ name: String) { self.bytes = Array(name.utf8) }

    public var description: String {
        if let s = String(bytes: bytes, encoding: .utf8), s.allSatisfy({ $0.isASCII && !$0.isNewline }) { return s }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }
}
