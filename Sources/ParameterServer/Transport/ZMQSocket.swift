// The only ZeroMQ code of the project (with the rest of Transport/): sockets, multipart
// frames, polling with deadlines.
import CZeroMQ
import Foundation

/// Errors from the ZeroMQ layer, with the endpoint and errno text.
public enum TransportError: Error, CustomStringConvertible, Equatable {
    case zmq(operation: String, endpoint: String, message: String)
    case timedOut(waitingFor: String, seconds: Double)
    case peerFailed(String)
    case interrupted

    public var description: String {
        switch self {
        case let .zmq(op, endpoint, message): return "ZeroMQ \(op) \(endpoint) failed: \(message)"
        case let .timedOut(what, s): return "timed out after \(String(format: "%.1f", s)) s waiting for \(what)"
        case let .peerFailed(text): return text
        case .interrupted: return "interrupted by a signal"
        }
    }
}

/// A ZeroMQ context (one per process is enough; sockets keep it alive).
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// A new context.
    public init() { handle = zmq_ctx_new() }

    deinit { zmq_ctx_term(handle) }
}

/// A ROUTER or DEALER socket with linger 0 (closing never blocks on unsent messages).
public final class ZMQSocket {
    /// Socket kinds used by this project.
    public enum Kind { case router, dealer }

    let handle: UnsafeMutableRawPointer
    let context: ZMQContext
    /// The endpoint bound or connected to, for messages.
    public private(set) var endpoint = ""

    /// A socket; `identity` sets the routing id a ROUTER peer sees.
    public init(_ context: ZMQContext, kind: Kind, identity: [UInt8]? = nil) throws {
        self.context = context
        guard let h = zmq_socket(context.handle, kind == .router ? ZMQ_ROUTER : ZMQ_DEALER) else {
            throw TransportError.zmq(operation: "socket", endpoint: "", message: ZMQSocket.lastError())
        }
        handle = h
        try set(ZMQ_LINGER, 0)
        try set(ZMQ_SNDHWM, 10_000)
        try set(ZMQ_RCVHWM, 10_000)
        if kind == .router { try set(ZMQ_ROUTER_MANDATORY, 1) }
        if let identity {
            let rc = identity.withUnsafeBytes { zmq_setsockopt(handle, ZMQ_ROUTING_ID, $0.baseAddress, identity.count) }
            if rc != 0 { throw TransportError.zmq(operation: "set identity", endpoint: "", message: ZMQSocket.lastError()) }
        }
    }

    deinit { zmq_close(handle) }

    private func set(_ option: Int32, _ value: Int32) throws {
        var v = value
        if zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) != 0 {
            throw TransportError.zmq(operation: "setsockopt \(option)", endpoint: endpoint, message: ZMQSocket.lastError())
        }
    }

    static func lastError() -> String { String(cString: zmq_strerror(zmq_errno())) }

    /// Binds, e.g. `tcp://127.0.0.1:9000` or `tcp://*:0` for an ephemeral port; returns the
    /// endpoint actually bound.
    @discardableResult
    public func bind(_ endpoint: String) throws -> String {
        let spec = endpoint.hasSuffix(":0") ? String(endpoint.dropLast(2)) + ":*" : endpoint
        guard zmq_bind(handle, spec) == 0 else {
            throw TransportError.zmq(operation: "bind", endpoint: endpoint, message: ZMQSocket.lastError())
        }
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        self.endpoint = String(cString: buffer)
        return self.endpoint
    }

    /// Connects to a bound endpoint (returns at once; ZeroMQ connects in the background).
    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else {
            throw TransportError.zmq(operation: "connect", endpoint: endpoint, message: ZMQSocket.lastError())
        }
        self.endpoint = endpoint
    }

    /// Sends the frames as one multipart message (each frame copied once into ZeroMQ's buffer).
    public func send(_ frames: [UnsafeRawBufferPointer]) throws {
        for (i, frame) in frames.enumerated() {
            var msg = zmq_msg_t()
            guard zmq_msg_init_size(&msg, frame.count) == 0 else {
                throw TransportError.zmq(operation: "msg_init", endpoint: endpoint, message: ZMQSocket.lastError())
            }
            if frame.count > 0 { zmq_msg_data(&msg).copyMemory(from: frame.baseAddress!, byteCount: frame.count) }
            let flags: Int32 = i < frames.count - 1 ? ZMQ_SNDMORE : 0
            if zmq_msg_send(&msg, handle, flags) < 0 {
                let error = ZMQSocket.lastError()
                zmq_msg_close(&msg)
                throw TransportError.zmq(operation: "send", endpoint: endpoint, message: error)
            }
        }
    }

    /// Sends byte arrays as one multipart message.
    public func send(_ frames: [[UInt8]]) throws {
        try withRawBuffers(frames) { try send($0) }
    }

    /// Receives one multipart message if one is waiting (non-blocking); nil otherwise.
    /// At most `maxFrames` frames are kept; the rest are drained and dropped.
    public func receiveNow(maxFrames: Int = 8) throws -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var more = true
        var first = true
        while more {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            let rc = zmq_msg_recv(&msg, handle, first ? ZMQ_DONTWAIT : 0)
            if rc < 0 {
                if first && zmq_errno() == EAGAIN { return nil }
                throw TransportError.zmq(operation: "receive", endpoint: endpoint, message: ZMQSocket.lastError())
            }
            first = false
            if frames.count < maxFrames {
                let size = zmq_msg_size(&msg)
                frames.append([UInt8](UnsafeRawBufferPointer(start: zmq_msg_data(&msg), count: size)))
            }
            more = zmq_msg_more(&msg) != 0
        }
        return frames
    }

    /// Waits up to `seconds` until one of `sockets` has a message; returns the indices ready.
    public static func poll(_ sockets: [ZMQSocket], seconds: Double) -> [Int] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let rc = zmq_poll(&items, Int32(items.count), max(0, Int(seconds * 1000)))
        guard rc > 0 else { return [] }
        return items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
    }
}

/// Runs `body` with raw views of the arrays (kept alive for the call).
func withRawBuffers<R>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
    func go(_ i: Int, _ acc: [UnsafeRawBufferPointer]) throws -> R {
        if i == arrays.count { return try body(acc) }
        return try arrays[i].withUnsafeBytes { try go(i + 1, acc + [$0]) }
    }
    return try go(0, [])
}
