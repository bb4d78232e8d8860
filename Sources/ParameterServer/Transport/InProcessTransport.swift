import Foundation

/// Deterministic queues between in-process endpoints, for unit tests of `KVClient` and the
/// server loop without sockets, threads or sleeps. Every message is framed by the sender's
/// codec and decoded by the receiver's, as on the wire.
///
/// Time is virtual: `now` only moves when an endpoint waits on an empty queue — it first lets
/// every other endpoint's `whenIdle` handler run (a server loop answering what it received),
/// and if its queue is still empty the clock jumps to its deadline. So "a server silent for
/// 30 s" takes no wall time, and a run is the same every time.
public final class InProcessNetwork: @unchecked Sendable {
    private let lock = NSLock()
    private var queues: [PeerID: [(from: PeerID, frames: [[UInt8]])]] = [:]
    private var idleHandlers: [(owner: PeerID, run: () -> Void)] = []
    private var clock: Double = 0
    private var pumping = false

    public init() {}

    /// The virtual time in seconds.
    public var now: Double { lock.lock(); defer { lock.unlock() }; return clock }

    /// Moves the clock forward to `time` (never back).
    public func advance(to time: Double) { lock.lock(); clock = max(clock, time); lock.unlock() }

    /// A new endpoint named `address` (a server's endpoint string, a worker's name).
    public func endpoint(_ address: String, codec: WireCodec = WireCodec()) -> InProcessTransport {
        let peer = PeerID(address)
        lock.lock(); queues[peer] = queues[peer] ?? []; lock.unlock()
        return InProcessTransport(network: self, address: peer, codec: codec)
    }

    /// Runs `handler` whenever another endpoint waits on an empty queue (e.g. a server loop
    /// serving what it has received). `owner` is the endpoint the handler serves.
    public func whenIdle(serving owner: InProcessTransport, _ handler: @escaping () -> Void) {
        lock.lock(); idleHandlers.append((owner.address, handler)); lock.unlock()
    }

    /// Removes `owner`'s handlers and queue: it is gone, and messages to it are dropped (as a
    /// DEALER's messages to a vanished server are).
    func remove(_ owner: PeerID) {
        lock.lock(); idleHandlers.removeAll { $0.owner == owner }; queues[owner] = nil; lock.unlock()
    }

    func deliver(_ frames: [[UInt8]], from: PeerID, to: PeerID) {
        lock.lock(); defer { lock.unlock() }
        queues[to]?.append((from, frames))
    }

    func take(for address: PeerID) -> (from: PeerID, frames: [[UInt8]])? {
        lock.lock(); defer { lock.unlock() }
        guard let first = queues[address]?.first else { return nil }
        queues[address]?.removeFirst()
        return first
    }

    /// Lets the other endpoints' idle handlers run once (not re-entrantly).
    func pump(except address: PeerID) {
        lock.lock()
        guard !pumping else { lock.unlock(); return }
        pumping = true
        let handlers = idleHandlers.filter { $0.owner != address }
        lock.unlock()
        for h in handlers { h.run() }
        lock.lock(); pumping = false; lock.unlock()
    }
}

/// One endpoint of an `InProcessNetwork`.
public final class InProcessTransport: Transport {
    public private(set) var codec: WireCodec
    public var profile: RoundProfile?
    /// This endpoint's name, as other endpoints see it in `Received.peer`.
    public let address: PeerID
    private let network: InProcessNetwork

    init(network: InProcessNetwork, address: PeerID, codec: WireCodec) {
        self.network = network; self.address = address; self.codec = codec
    }

    /// Leaves the network: later messages to this endpoint are dropped (a dead peer).
    public func close() { network.remove(address) }

    public func now() -> Double { network.now }

    /// In-process endpoints are named by their address.
    public func address(of peer: PeerID) -> String? { "in-process \(peer)" }

    public func send(headerFrame: [UInt8], payload: Payload, to peer: PeerID) throws(TransportError) {
        network.deliver([headerFrame, Array(payload)], from: address, to: peer)
    }

    public func limitIncomingPayloads(toBytes bytes: Int) { codec.maxPayloadBytes = bytes }

    /// Raw frames to `peer`, bypassing the codec (tests of malformed input).
    public func sendRaw(_ frames: [[UInt8]], to peer: PeerID) {
        network.deliver(frames, from: address, to: peer)
    }

    public func receive(deadline: Double) throws(TransportError) -> Received? {
        if let r = take() { return r }
        guard deadline > network.now else { return nil }
        network.pump(except: address)
        if let r = take() { return r }
        network.advance(to: deadline)
        return nil
    }

    private func take() -> Received? {
        guard let (from, frames) = network.take(for: address) else { return nil }
        do throws(WireError) {
            guard frames.count == 2 else { throw .wrongFrameCount(frames.count) }
            // The payload frame is adopted as ZeroMQ's are (not copied and hashed on the way),
            // so a codec that defers payload checks defers them here too.
            let frame = ReceivedFrame(frames[1])
            return .message(try codec.decode(header: frames[0], payload: Payload(adopting: frame.bytes, owner: frame)), from: from)
        } catch {
            return .malformed(error, from: from)
        }
    }
}

/// A received payload frame's bytes in memory of their own, kept alive by the `Payload`
/// adopting them (the in-process stand-in for a ZeroMQ frame).
final class ReceivedFrame: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    private let count: Int

    init(_ bytes: [UInt8]) {
        count = bytes.count
        base = .allocate(byteCount: max(count, 1), alignment: 16)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { base.copyMemory(from: b, byteCount: count) } }
    }

    deinit { base.deallocate() }

    /// The bytes, valid while this frame lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
}
