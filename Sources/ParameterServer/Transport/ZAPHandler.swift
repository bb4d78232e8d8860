// The ZeroMQ authentication handler (ZAP, rfc.zeromq.org/spec:27) of one context: a REP
// socket bound to inproc://zeromq.zap.01 that libzmq asks about every CURVE handshake on the
// context's binding sockets. Admits a client whose public key is in the authorised list.
import CZeroMQ
import Foundation
import Logging

final class ZAPHandler: @unchecked Sendable {
    private let socket: UnsafeMutableRawPointer
    private let authorized: Set<String>
    private let lock = NSLock()
    private var refusedCount = 0
    private let finished = DispatchSemaphore(value: 0)
    private let logger = Logger(label: "zap")

    /// Binds the handler in `context` (before any CURVE socket there binds) and starts its
    /// thread, which ends when the context shuts down.
    init(context: ZMQContext, authorized: Set<String>) throws(TransportError) {
        guard let ctx = context.handle, let s = zmq_socket(ctx, ZMQ_REP) else {
            throw .socket(operation: "socket (ZAP)", endpoint: "", reason: ZMQSocket.lastError())
        }
        var linger: Int32 = 0
        zmq_setsockopt(s, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        guard zmq_bind(s, "inproc://zeromq.zap.01") == 0 else {
            let reason = ZMQSocket.lastError()
            zmq_close(s)
            throw .socket(operation: "bind", endpoint: "inproc://zeromq.zap.01", reason: reason)
        }
        socket = s
        self.authorized = authorized
        Thread.detachNewThread { [self] in serve() }
    }

    /// CURVE handshakes refused so far (a client key not in the list). A client without CURVE
    /// never reaches the handler: its handshake fails on the mechanism.
    var refused: Int { lock.withLock { refusedCount } }

    /// Waits until the thread has closed its socket (after `zmq_ctx_shutdown`).
    func waitUntilFinished() { finished.wait() }

    private func serve() {
        defer { zmq_close(socket); finished.signal() }
        while let request = receive() {
            // Request: version, request id, domain, address, routing id, mechanism, credentials…
            let version = request.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
            let requestID = request.count > 1 ? request[1] : []
            let mechanism = request.count > 5 ? String(decoding: request[5], as: UTF8.self) : ""
            let key = request.count > 6 ? CurveKeys.z85(request[6]) : nil
            let admitted = version == "1.0" && mechanism == "CURVE" && key.map(authorized.contains) == true
            if !admitted {
                lock.withLock { refusedCount += 1 }
                let address = request.count > 3 ? String(decoding: request[3], as: UTF8.self) : "?"
                logger.warning("refused a CURVE client at \(address): its key \(key ?? "?") is not in authorized_keys")
            }
            let status = admitted ? "200" : "400"
            let text = admitted ? "OK" : "client key not authorised"
            // Reply: version, request id, status code, status text, user id, metadata.
            let reply: [[UInt8]] = [Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8),
                                    Array((admitted ? key ?? "" : "").utf8), []]
            if !send(reply) { return }
        }
    }

    /// One multipart request; nil once the context is shutting down.
    private func receive() -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var more = true
        while more {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            if zmq_msg_recv(&msg, socket, 0) < 0 {
                if zmq_errno() == EINTR { continue }
                return nil
            }
            frames.append([UInt8](UnsafeRawBufferPointer(start: zmq_msg_data(&msg), count: zmq_msg_size(&msg))))
            more = zmq_msg_more(&msg) != 0
        }
        return frames
    }

    private func send(_ frames: [[UInt8]]) -> Bool {
        for (i, frame) in frames.enumerated() {
            let flags: Int32 = i < frames.count - 1 ? ZMQ_SNDMORE : 0
            let rc = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress, $0.count, flags) }
            if rc < 0 { return false }
        }
        return true
    }
}
