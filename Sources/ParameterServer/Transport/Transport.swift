import Foundation

/// Moves framed messages between this process and its peers. Both implementations frame with
/// the same `WireCodec` (header frame + payload frame) and decode every received frame before
/// handing it on, so a test through `InProcessTransport` exercises the bytes ZeroMQ carries.
///
/// Not thread-safe: one thread uses a transport (ZeroMQ sockets may not be shared).
public protocol Transport: AnyObject {
    /// The codec framing every message.
    var codec: WireCodec { get }
    /// Sends an encoded header frame and a payload (read during the call only) to `peer`.
    func send(headerFrame: [UInt8], payload: UnsafeRawBufferPointer, to peer: PeerID) throws(TransportError)
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
}

extension Transport {
    /// Sends `message` to `peer`.
    public func send(_ message: Message, to peer: PeerID) throws(TransportError) {
        let frame = profile.measure(.checksum) { codec.headerFrame(for: message) }
        let sent: Result<Void, TransportError> = message.payload.withUnsafeBytes { payload in
            Result { () throws(TransportError) in try send(headerFrame: frame, payload: payload, to: peer) }
        }
        try sent.get()
    }

    /// Sends `header` with a payload straight from the caller's memory (no copy into a `Message`).
    public func send(_ header: MessageHeader, payload: UnsafeRawBufferPointer, to peer: PeerID) throws(TransportError) {
        let frame = profile.measure(.checksum) { codec.headerFrame(for: header, payload: payload) }
        try send(headerFrame: frame, payload: payload, to: peer)
    }
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
