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

    /// Ends the context; blocks until every socket is closed and flushed (or its linger passed).
    func terminate() {
        guard let h = handle else { return }
        handle = nil
        if let zap {
            // Wakes the ZAP thread (ETERM), which closes its socket; then the term can finish.
            zmq_ctx_shutdown(h)
            zap.waitUntilFinished()
        }
        zmq_ctx_term(h)
    }

    deinit { terminate() }
}

/// A ROUTER or DEALER socket with a bounded linger: closing keeps unsent messages at most
/// `linger` seconds, so a final reply leaves without a fixed sleep and a dead peer cannot
/// block an exit for longer.
final class ZMQSocket {
    enum Kind { case router, dealer }

    private var handle: UnsafeMutableRawPointer?
    /// The endpoint bound or connected to, for messages.
    private(set) var endpoint = ""

    /// A socket; `identity` sets the routing id a ROUTER peer sees.
    init(_ context: ZMQContext, kind: Kind, linger: Double, identity: [UInt8]? = nil) throws(TransportError) {
        guard let ctx = context.handle, let h = zmq_socket(ctx, kind == .router ? ZMQ_ROUTER : ZMQ_DEALER) else {
            throw .socket(operation: "socket", endpoint: "", reason: ZMQSocket.lastError())
        }
        handle = h
        try set(ZMQ_LINGER, Int32(linger * 1000))
        try set(ZMQ_SNDHWM, 10_000)
        try set(ZMQ_RCVHWM, 10_000)
        if kind == .router { try set(ZMQ_ROUTER_MANDATORY, 1) }
        if let identity {
            let rc = identity.withUnsafeBytes { zmq_setsockopt(h, ZMQ_ROUTING_ID, $0.baseAddress, identity.count) }
            if rc != 0 { throw .socket(operation: "set identity", endpoint: "", reason: ZMQSocket.lastError()) }
        }
    }

    deinit { close() }

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

    /// Sends the frames as one multipart message (each frame copied once into ZeroMQ's buffer).
    /// A ROUTER whose first frame names a peer that is gone fails with `peerUnreachable`.
    func send(_ frames: [UnsafeRawBufferPointer]) throws(TransportError) {
        let h = try live()
        for (i, frame) in frames.enumerated() {
            var msg = zmq_msg_t()
            guard zmq_msg_init_size(&msg, frame.count) == 0 else {
                throw .socket(operation: "msg_init", endpoint: endpoint, reason: ZMQSocket.lastError())
            }
            if let base = frame.baseAddress, frame.count > 0 { zmq_msg_data(&msg).copyMemory(from: base, byteCount: frame.count) }
            let flags: Int32 = i < frames.count - 1 ? ZMQ_SNDMORE : 0
            if zmq_msg_send(&msg, h, flags) < 0 {
                let errno = zmq_errno(), error = ZMQSocket.lastError()
                zmq_msg_close(&msg)
                if errno == EHOSTUNREACH, i == 0 { throw .peerUnreachable(PeerID([UInt8](frame))) }
                throw .socket(operation: "send", endpoint: endpoint, reason: error)
            }
        }
    }

    /// Receives one multipart message if one is waiting (non-blocking); nil otherwise. With
    /// the frames comes the sender's IP address as the kernel saw it (ZeroMQ's `Peer-Address`).
    /// At most `maxFrames` frames are kept; the rest are drained and dropped.
    func receiveNow(maxFrames: Int = 8) throws(TransportError) -> (frames: [[UInt8]], address: String?)? {
        let h = try live()
        var frames: [[UInt8]] = []
        var address: String?
        var more = true
        var first = true
        while more {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            let rc = zmq_msg_recv(&msg, h, first ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                if first && zmq_errno() == EAGAIN { return nil }
                throw .socket(operation: "receive", endpoint: endpoint, reason: ZMQSocket.lastError())
            }
            if first, let text = zmq_msg_gets(&msg, "Peer-Address") { address = String(cString: text) }
            first = false
            if frames.count < maxFrames {
                frames.append([UInt8](UnsafeRawBufferPointer(start: zmq_msg_data(&msg), count: zmq_msg_size(&msg))))
            }
            more = zmq_msg_more(&msg) != 0
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
