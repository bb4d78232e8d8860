// With ZeroMQTransport.swift, CurveKeys.swift and ZAPHandler.swift, the only ZeroMQ code of
// the project: a context, sockets, multipart frames, CURVE options and polling. Used only by
// ZeroMQTransport.
import CZeroMQ
import Foundation

/// A ZeroMQ context; `terminate` waits for sockets' unsent messages up to their linger bound.
final class ZMQContext: @unchecked Sendable {
    private(set) var handle: UnsafeMutableRawPointer?

    /// The context's ZAP handler, once a secure socket binds in it.
    private(set) var zap: ZAPHandler?

    init() { handle = zmq_ctx_new() }

    /// Starts the ZAP handler admitting `authorized` client keys (before a CURVE socket binds).
    func startZAP(authorized: Set<String>) throws(TransportError) {
        if zap == nil { zap = try ZAPHandler(context: self, authorized: authorized) }
    }

    /// The longest `terminate` waits for ZeroMQ. A socket's linger is a second or two, but
    /// libzmq can hang in `zmq_ctx_term` for good after failed handshakes (libzmq issues 2586
    /// and 2733): a bound, so that no exit depends on it.
    static let terminateDeadlineSeconds = 10.0

    /// Ends the context; blocks until every socket is closed and flushed (or its linger passed),
    /// at most `seconds`: then the context is abandoned — its threads and memory stay until the
    /// process exits — with a warning on standard error, and the result is false.
    @discardableResult
    func terminate(within seconds: Double = ZMQContext.terminateDeadlineSeconds) -> Bool {
        guard let h = handle else { return true }
        handle = nil
        if let zap {
            // Wakes the ZAP thread (ETERM), which closes its socket; then the term can finish.
            zmq_ctx_shutdown(h)
            zap.waitUntilFinished()
        }
        let ended = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let context = h  // only this thread touches it from here on
        let term = Thread { zmq_ctx_term(context); ended.signal() }
        term.name = "zmq-ctx-term"
        term.start()
        guard ended.wait(timeout: .now() + seconds) == .success else {
            FileHandle.standardError.write(Data("""
                warning: ZeroMQ did not end a context within \(seconds) s (a libzmq hang after a failed handshake); \
                left to the process's exit

                """.utf8))
            return false
        }
        return true
    }

    deinit { terminate() }
}

/// A ROUTER or DEALER socket with a bounded linger: closing keeps unsent messages at most
/// `linger` seconds, so a final reply leaves without a fixed sleep and a dead peer cannot
/// block an exit for longer.
final class ZMQSocket {
    enum Kind { case router, dealer }

    /// The longest a ROUTER's send may wait for a peer's queue (`ZMQ_SNDTIMEO`).
    static let routerSendTimeoutSeconds = 5.0

    /// Messages queued per peer and direction before ZeroMQ pushes back (`ZMQ_SNDHWM`/`ZMQ_RCVHWM`).
    static let defaultQueueLimit: Int32 = 10_000

    private var handle: UnsafeMutableRawPointer?
    private let kind: Kind
    /// The endpoint bound or connected to, for messages.
    private(set) var endpoint = ""
    /// ROUTER only: routing ids of peers whose queue stayed full for the whole send timeout.
    /// They are not waited for again (a send to one fails at once) until one of their messages
    /// is accepted again, so a peer that stopped reading costs the server one timeout, not one
    /// per message.
    private var congested: Set<[UInt8]> = []

    /// A socket; `identity` sets the routing id a ROUTER peer sees; `receiveQueue` and
    /// `kernelReceiveBuffer` (bytes, `ZMQ_RCVBUF`; nil: the system's) bound what it takes in
    /// before its peers are pushed back — small only in tests of a peer that stops reading.
    init(_ context: ZMQContext, kind: Kind, linger: Double, identity: [UInt8]? = nil,
         receiveQueue: Int32 = ZMQSocket.defaultQueueLimit, kernelReceiveBuffer: Int32? = nil) throws(TransportError) {
        guard let ctx = context.handle, let h = zmq_socket(ctx, kind == .router ? ZMQ_ROUTER : ZMQ_DEALER) else {
            throw .socket(operation: "socket", endpoint: "", reason: ZMQSocket.lastError())
        }
        handle = h
        self.kind = kind
        try set(ZMQ_LINGER, Int32(linger * 1000))
        try set(ZMQ_SNDHWM, Self.defaultQueueLimit)
        try set(ZMQ_RCVHWM, receiveQueue)
        if let kernelReceiveBuffer { try set(ZMQ_RCVBUF, kernelReceiveBuffer) }
        if kind == .router {
            // A message for a peer that is gone fails (EHOSTUNREACH) instead of vanishing. For a
            // peer whose queue is full (it stopped reading) ROUTER_MANDATORY makes the send wait —
            // without it ZeroMQ would drop the message silently — and libzmq's default wait has no
            // end. This bounds it, so one such peer can never freeze a server that owes the
            // others their replies: the send fails with `peerNotReading` and the server logs
            // "could not answer" (SendTimeoutFaultTests holds a peer's queue full).
            try set(ZMQ_ROUTER_MANDATORY, 1)
            try set(ZMQ_SNDTIMEO, Int32(Self.routerSendTimeoutSeconds * 1000))
        }
        if let identity {
            let rc = identity.withUnsafeBytes { zmq_setsockopt(h, ZMQ_ROUTING_ID, $0.baseAddress, identity.count) }
            if rc != 0 { throw .socket(operation: "set identity", endpoint: "", reason: ZMQSocket.lastError()) }
        }
    }

    deinit { close() }

    /// A DEALER's longest wait in a send for a connection to take the message (`ZMQ_SNDTIMEO`);
    /// nil: no bound (ZeroMQ's default).
    private(set) var dealerSendTimeout: Double?

    /// Bounds this DEALER's sends (see `dealerSendTimeout`): past it a send fails with
    /// `peerNotReading` naming the endpoint.
    func limitSends(toSeconds seconds: Double) throws(TransportError) {
        try set(ZMQ_SNDTIMEO, Int32(max(1, (seconds * 1000).rounded())))
        dealerSendTimeout = seconds
    }

    /// Closes the socket (idempotent); unsent messages stay queued up to the linger bound.
    func close() {
        if let h = handle { zmq_close(h) }
        handle = nil
    }

    private func live() throws(TransportError) -> UnsafeMutableRawPointer {
        guard let handle else { throw .closed }
        return handle
    }

    private func set(_ option: Int32, _ value: Int32) throws(TransportError) {
        var v = value
        if zmq_setsockopt(try live(), option, &v, MemoryLayout<Int32>.size) != 0 {
            throw .socket(operation: "setsockopt \(option)", endpoint: endpoint, reason: ZMQSocket.lastError())
        }
    }

    private func set(_ option: Int32, text: String) throws(TransportError) {
        let h = try live()
        let rc = text.withCString { zmq_setsockopt(h, option, $0, strlen($0)) }
        if rc != 0 { throw .socket(operation: "setsockopt \(option)", endpoint: endpoint, reason: ZMQSocket.lastError()) }
    }

    /// Makes this (binding) socket a CURVE server with the cluster's server secret key; the
    /// context's ZAP handler decides which clients are admitted. Call before `bind`.
    func secureAsServer(secretKey: String) throws(TransportError) {
        try set(ZMQ_CURVE_SERVER, 1)
        try set(ZMQ_CURVE_SECRETKEY, text: secretKey)
        try set(ZMQ_ZAP_DOMAIN, text: "ssd-cluster")
    }

    /// Makes this (connecting) socket a CURVE client of the server key `serverKey`. Call before `connect`.
    func secureAsClient(serverKey: String, publicKey: String, secretKey: String) throws(TransportError) {
        try set(ZMQ_CURVE_SERVERKEY, text: serverKey)
        try set(ZMQ_CURVE_PUBLICKEY, text: publicKey)
        try set(ZMQ_CURVE_SECRETKEY, text: secretKey)
    }

    /// Sets `ZMQ_MAXMSGSIZE`: a peer connecting later that sends a larger frame is dropped
    /// before the frame is buffered. (Connections already open keep their limit; the codec's
    /// check covers them.)
    func limitMessageSize(to bytes: Int) {
        guard let handle else { return }
        var v = Int64(bytes)
        zmq_setsockopt(handle, ZMQ_MAXMSGSIZE, &v, MemoryLayout<Int64>.size)
    }

    static func lastError() -> String { String(cString: zmq_strerror(zmq_errno())) }

    /// Binds, e.g. `tcp://127.0.0.1:9000` or `tcp://*:0` for an ephemeral port; returns the
    /// endpoint actually bound.
    @discardableResult
    func bind(_ endpoint: String) throws(TransportError) -> String {
        let spec = endpoint.hasSuffix(":0") ? String(endpoint.dropLast(2)) + ":*" : endpoint
        let h = try live()
        guard zmq_bind(h, spec) == 0 else { throw .socket(operation: "bind", endpoint: endpoint, reason: ZMQSocket.lastError()) }
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        zmq_getsockopt(h, ZMQ_LAST_ENDPOINT, &buffer, &size)
        self.endpoint = String(cString: buffer)
        return self.endpoint
    }

    /// Connects to a bound endpoint (returns at once; ZeroMQ connects in the background).
    func connect(_ endpoint: String) throws(TransportError) {
        guard zmq_connect(try live(), endpoint) == 0 else {
            throw .socket(operation: "connect", endpoint: endpoint, reason: ZMQSocket.lastError())
        }
        self.endpoint = endpoint
    }

    /// Sends the frames as one multipart message (each frame copied once into ZeroMQ's buffer),
    /// then `payload`, when given, as the last frame without a copy: ZeroMQ holds a reference
    /// to its memory until the bytes have left. A ROUTER whose first frame names a peer that is
    /// gone fails with `peerUnreachable`.
    func send(_ frames: [UnsafeRawBufferPointer], payload: Payload? = nil) throws(TransportError) {
        let h = try live()
        try sendCopies(frames, on: h, more: payload != nil)
        guard let payload else { return }
        var msg = zmq_msg_t()
        if let storage = payload.storage {
            // The free function releases the reference taken here, on ZeroMQ's I/O thread.
            let owner = Unmanaged.passRetained(storage)
            guard zmq_msg_init_data(&msg, UnsafeMutableRawPointer(mutating: storage.base), storage.count, releasePayloadStorage,
                                    owner.toOpaque()) == 0 else {
                owner.release()
                throw .socket(operation: "msg_init_data", endpoint: endpoint, reason: ZMQSocket.lastError())
            }
        } else {
            zmq_msg_init(&msg)
        }
        try send(&msg, on: h, more: false, first: nil, wait: true)
    }

    /// Sends the frames, then `borrowed` as the last frame straight from the caller's memory:
    /// ZeroMQ reads it while writing it to the socket and, once done, calls a free function
    /// that only counts it back in `lent` (the memory stays the caller's). See
    /// `Transport.send(_:borrowing:to:)` for how long the caller must leave it unchanged.
    func send(_ frames: [UnsafeRawBufferPointer], borrowed: UnsafeRawBufferPointer, lent: LentFrames) throws(TransportError) {
        let h = try live()
        try sendCopies(frames, on: h, more: true)
        var msg = zmq_msg_t()
        guard let base = borrowed.baseAddress, borrowed.count > 0 else {
            zmq_msg_init(&msg)
            return try send(&msg, on: h, more: false, first: nil, wait: true)
        }
        let owner = Unmanaged.passRetained(lent)
        lent.lend()
        guard zmq_msg_init_data(&msg, UnsafeMutableRawPointer(mutating: base), borrowed.count, returnBorrowedFrame, owner.toOpaque()) == 0 else {
            lent.giveBack(); owner.release()
            throw .socket(operation: "msg_init_data", endpoint: endpoint, reason: ZMQSocket.lastError())
        }
        try send(&msg, on: h, more: false, first: nil, wait: true)
    }

    /// Closes the socket discarding what is still queued (linger 0): ended with its context,
    /// ZeroMQ then holds none of its frames.
    func closeDroppingUnsent() {
        try? set(ZMQ_LINGER, 0)
        close()
    }

    /// Sends each frame as a copy in ZeroMQ's memory; `more`: another frame follows the last.
    /// A ROUTER's first frame names the peer; ZeroMQ checks that peer's queue on it, and a peer
    /// that let a send time out (`congested`) is not waited for again until a send to it succeeds.
    private func sendCopies(_ frames: [UnsafeRawBufferPointer], on h: UnsafeMutableRawPointer, more: Bool) throws(TransportError) {
        let peer = kind == .router ? frames.first.map { [UInt8]($0) } : nil
        for (i, frame) in frames.enumerated() {
            var msg = zmq_msg_t()
            guard zmq_msg_init_size(&msg, frame.count) == 0 else {
                throw .socket(operation: "msg_init", endpoint: endpoint, reason: ZMQSocket.lastError())
            }
            if let base = frame.baseAddress, frame.count > 0 { zmq_msg_data(&msg).copyMemory(from: base, byteCount: frame.count) }
            let wait = !(i == 0 && peer.map(congested.contains) == true)
            do {
                try send(&msg, on: h, more: i < frames.count - 1 || more, first: i == 0 ? peer : nil, wait: wait)
            } catch {
                if case .peerNotReading = error, let peer { congested.insert(peer) }
                throw error
            }
        }
        if let peer { congested.remove(peer) }
    }

    /// Sends one frame; on failure closes it (releasing a zero-copy payload). `first` is the
    /// routing id of a ROUTER's message, named in `peerUnreachable` and `peerNotReading`;
    /// without `wait` a full queue fails at once.
    private func send(_ msg: inout zmq_msg_t, on h: UnsafeMutableRawPointer, more: Bool, first: [UInt8]?, wait: Bool) throws(TransportError) {
        if zmq_msg_send(&msg, h, (more ? ZMQ_SNDMORE : 0) | (wait ? 0 : ZMQ_DONTWAIT)) < 0 {
            let errno = zmq_errno(), error = ZMQSocket.lastError()
            zmq_msg_close(&msg)
            if let first {
                // ROUTER_MANDATORY: EHOSTUNREACH for a peer that is gone, EAGAIN for one whose
                // queue stayed full for the send timeout (or at once, for a congested one).
                if errno == EHOSTUNREACH { throw .peerUnreachable(PeerID(first)) }
                if errno == EAGAIN {
                    throw .peerNotReading(PeerID(first), seconds: wait ? Self.routerSendTimeoutSeconds : 0)
                }
            } else if errno == EAGAIN, let seconds = dealerSendTimeout {
                throw .peerNotReading(PeerID(endpoint), seconds: wait ? seconds : 0)
            }
            throw .socket(operation: "send", endpoint: endpoint, reason: error)
        }
    }

    /// Receives one multipart message if one is waiting (non-blocking); nil otherwise. The
    /// frames stay in ZeroMQ's memory (no copy). With them comes the sender's IP address as
    /// the kernel saw it (ZeroMQ's `Peer-Address`). At most `maxFrames` frames are kept; the
    /// rest are drained and dropped.
    func receiveNow(maxFrames: Int = 8) throws(TransportError) -> (frames: [ZMQFrame], address: String?)? {
        let h = try live()
        var frames: [ZMQFrame] = []
        var address: String?
        var more = true
        var first = true
        while more {
            let frame = ZMQFrame()
            let rc = zmq_msg_recv(frame.msg, h, first ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                if first && zmq_errno() == EAGAIN { return nil }
                throw .socket(operation: "receive", endpoint: endpoint, reason: ZMQSocket.lastError())
            }
            if first, let text = zmq_msg_gets(frame.msg, "Peer-Address") { address = String(cString: text) }
            first = false
            more = zmq_msg_more(frame.msg) != 0
            if frames.count < maxFrames { frames.append(frame) }
        }
        return (frames, address)
    }

    /// Waits up to `seconds` until one of `sockets` has a message; returns the indices ready.
    static func poll(_ sockets: [ZMQSocket], seconds: Double) -> [Int] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let rc = zmq_poll(&items, Int32(items.count), max(0, Int((seconds * 1000).rounded(.up))))
        guard rc > 0 else { return [] }
        return items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
    }
}

/// One received frame, left in ZeroMQ's memory until the last reference to it is gone (a
/// `Payload` adopting `bytes` keeps it). `zmq_msg_t` lives on the heap: small frames keep their
/// bytes inside it, so it must not move.
final class ZMQFrame: @unchecked Sendable {
    let msg: UnsafeMutablePointer<zmq_msg_t>

    init() {
        msg = .allocate(capacity: 1)
        msg.initialize(to: zmq_msg_t())
        zmq_msg_init(msg)
    }

    deinit {
        zmq_msg_close(msg)
        msg.deallocate()
    }

    /// The frame's bytes, valid while this frame lives.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: zmq_msg_data(msg), count: zmq_msg_size(msg)) }

    /// A copy of the bytes (routing ids, headers: a few dozen bytes).
    var array: [UInt8] { [UInt8](bytes) }
}

/// ZeroMQ's free function for zero-copy payload frames: drops the reference `send` took.
private func releasePayloadStorage(_ data: UnsafeMutableRawPointer?, _ hint: UnsafeMutableRawPointer?) {
    if let hint { Unmanaged<Payload.Storage>.fromOpaque(hint).release() }
}

/// Borrowed payload frames (`ZMQSocket.send(_:borrowed:lent:)`) ZeroMQ has not released yet.
/// Counted on the sending thread and ZeroMQ's I/O thread, hence the lock.
final class LentFrames: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func lend() { lock.lock(); count += 1; lock.unlock() }
    func giveBack() { lock.lock(); count -= 1; lock.unlock() }
    var outstanding: Int { lock.lock(); defer { lock.unlock() }; return count }
}

/// ZeroMQ's free function for borrowed frames: the memory is the caller's; only the count and
/// the reference `send` took are given back.
private func returnBorrowedFrame(_ data: UnsafeMutableRawPointer?, _ hint: UnsafeMutableRawPointer?) {
    guard let hint else { return }
    let lent = Unmanaged<LentFrames>.fromOpaque(hint)
    lent.takeUnretainedValue().giveBack()
    lent.release()
}
