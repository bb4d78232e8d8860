import Foundation
@testable import ParameterServer
import Testing

/// `ZMQContext.terminate` has a deadline: libzmq can hang in `zmq_ctx_term` for good (after a
/// failed handshake; here, the way it hangs by definition: a socket still open), and no process
/// may hang with it.
@Suite("ZeroMQ context termination")
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
}
