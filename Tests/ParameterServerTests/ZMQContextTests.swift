import Foundation
@testable import ParameterServer
import Testing

/// ZeroMQ's open-ended waits get deadlines: `ZMQContext.terminate` (libzmq can hang in
/// `zmq_ctx_term` after failed handshakes; here, the way it hangs by definition: a socket still
/// open) and a DEALER's send that no connection takes (a plain client refused by a CURVE
/// scheduler blocked in its registration's send, once in 25 runs, until it was killed).
@Suite("ZeroMQ deadlines")
struct ZMQContextTests {
    @Test("a context whose term cannot finish (a socket still open) is abandoned at the deadline with false; a clean one ends with true")
    func termHasADeadline() throws {
        let context = ZMQContext()
        let open = try ZMQSocket(context, kind: .dealer, linger: 0)
        try open.connect("tcp://127.0.0.1:9")  // nothing listens there: a message would wait
        let start = ContinuousClock.now
        #expect(context.terminate(within: 0.5) == false, "zmq_ctx_term cannot end while a socket is open")
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(500) && waited < .seconds(10), "terminate returned after \(waited)")
        open.close()  // lets the abandoned term finish on its thread

        let clean = ZMQContext()
        let closed = try ZMQSocket(clean, kind: .dealer, linger: 0)
        try closed.connect("tcp://127.0.0.1:9")
        closed.close()
        #expect(clean.terminate(within: 10) == true)
    }

    @Test("a DEALER send that no connection takes fails with peerNotReading after limitSends' bound, naming the endpoint")
    func dealerSendHasADeadline() throws {
        let context = ZMQContext()
        defer { context.terminate(within: 5) }
        let socket = try ZMQSocket(context, kind: .dealer, linger: 0)
        defer { socket.close() }
        try socket.limitSends(toSeconds: 0.3)
        try socket.connect("tcp://127.0.0.1:9")  // nothing listens: the queue fills and stays full
        let frame: [UInt8] = [1, 2, 3]
        let start = ContinuousClock.now
        var sent = 0
        do {
            while sent <= Int(ZMQSocket.defaultQueueLimit) {
                try frame.withUnsafeBytes { try socket.send([$0]) }
                sent += 1
            }
            Issue.record("\(sent) sends into a queue of \(ZMQSocket.defaultQueueLimit) never waited")
        } catch let error as TransportError {
            guard case .peerNotReading(let peer, let seconds) = error else { Issue.record("\(error)"); return }
            #expect(peer == PeerID("tcp://127.0.0.1:9") && seconds == 0.3, "\(error)")
            #expect(sent == Int(ZMQSocket.defaultQueueLimit), "failed after \(sent) sends")
        }
        #expect(ContinuousClock.now - start < .seconds(10))
    }
}
