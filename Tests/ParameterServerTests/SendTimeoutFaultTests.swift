import Foundation
@testable import ParameterServer
import Testing

/// A peer that stops reading, on real ZeroMQ sockets over 127.0.0.1: its queue on the server's
/// ROUTER fills, and with `ZMQ_ROUTER_MANDATORY` (which the server sets, so that a reply to a
/// peer that is gone fails instead of vanishing) libzmq's send would then wait for room without
/// end — the whole server loop with it. Without ROUTER_MANDATORY ZeroMQ would drop such
/// messages silently instead. The ROUTER's send timeout (`ZMQ_SNDTIMEO`,
/// `ZMQSocket.routerSendTimeoutSeconds`) bounds the wait: the send fails with `peerNotReading`,
/// the loop goes on serving the other peers, and later sends to the congested peer fail at once.
@Suite("Server send timeout (a peer whose queue is full)")
struct SendTimeoutFaultTests {
    /// The most heartbeats the stuck peer sends: far more answers than the ROUTER's queue
    /// (10 000 messages), the kernel's socket buffers and ZeroMQ's batches between them hold.
    static let floodLimit = 400_000

    /// The server loop's transport, recording how long each send took and how it ended.
    final class RecordingTransport: Transport, @unchecked Sendable {
        struct Send {
            var peer: PeerID
            var seconds: Double
            var error: TransportError?
        }

        let inner: ZeroMQTransport
        private let lock = NSLock()
        private var log: [Send] = []
        private var started: Double?

        init(_ inner: ZeroMQTransport) { self.inner = inner }

        var codec: WireCodec { inner.codec }
        var profile: RoundProfile? { nil }
        var sends: [Send] { lock.lock(); defer { lock.unlock() }; return log }
        /// How long the send in progress has been waiting (0 when none is).
        var blockedFor: Double { lock.lock(); defer { lock.unlock() }; return started.map { now() - $0 } ?? 0 }

        func send(headerFrame: [UInt8], payload: Payload, to peer: PeerID) throws(TransportError) {
            let start = now()
            lock.lock(); started = start; lock.unlock()
            do {
                try inner.send(headerFrame: headerFrame, payload: payload, to: peer)
                record(Send(peer: peer, seconds: now() - start, error: nil))
            } catch {
                record(Send(peer: peer, seconds: now() - start, error: error))
                throw error
            }
        }

        private func record(_ s: Send) { lock.lock(); log.append(s); started = nil; lock.unlock() }
        func receive(deadline: Double) throws(TransportError) -> Received? { try inner.receive(deadline: deadline) }
        func now() -> Double { inner.now() }
        func address(of peer: PeerID) -> String? { inner.address(of: peer) }
        func limitIncomingPayloads(toBytes bytes: Int) { inner.limitIncomingPayloads(toBytes: bytes) }
    }

    /// Sends a heartbeat as `rank` from `transport` and waits (at most `seconds`) for its answer.
    static func beat(_ transport: ZeroMQTransport, rank: Int32, server: PeerID, seconds: Double) throws -> Bool {
        try transport.send(Message(header: MessageHeader(command: .heartbeat, sender: rank)), to: server)
        let deadline = transport.now() + seconds
        while let received = try transport.receive(deadline: deadline) {
            if case .message(let m, _) = received, m.header.command == .heartbeat, m.header.isReply { return true }
        }
        return false
    }

    /// What the trial saw (run off Swift concurrency's shared threads: it blocks for seconds).
    struct Trial {
        var sends: [RecordingTransport.Send] = []
        var goodPeer: PeerID?
        var flooded = 0
        var answeredFirst = false
        var answeredAfter = 0.0
        var beats = 0
        var unanswered = 0
        var stopped = false
        var failure: String?
    }

    /// Serves a ServerLoop on one thread while worker 1 beats and a stuck worker 0 floods it.
    static func runTrial() throws -> Trial {
        var trial = Trial()
        let server = try ZeroMQTransport.bind("tcp://127.0.0.1:0", linger: 0)
        defer { server.close() }
        guard let endpoint = server.boundEndpoint else { throw TransportError.closed }
        let recording = RecordingTransport(server)
        // Nobody is declared silent during the test: the stuck peer stops sending after its flood.
        let loop = ServerLoop(server: KVServer(rank: 0, numWorkers: 2, timeouts: .init(heartbeat: 600)), transport: recording)
        let stop = StopFlag()
        let finished = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? loop.run(stopFlag: stop)
            finished.signal()
        }
        var stopped = false
        defer { if !stopped { stop.raise(); _ = finished.wait(timeout: .now() + 30) } }

        // Worker 1 behaves; worker 0 connects with a receive queue of one message and a small
        // kernel buffer, floods heartbeats and never reads an answer.
        let good = try ZeroMQTransport.connect(to: [endpoint], linger: 0)
        defer { good.close() }
        let serverPeer = PeerID(endpoint)
        let start0 = good.now()
        trial.answeredFirst = try beat(good, rank: 1, server: serverPeer, seconds: 30)
        // The server records a send once it returns, which can be after the answer arrived.
        while recording.sends.isEmpty, good.now() - start0 < 30 { usleep(1000) }
        guard let goodPeer = recording.sends.first?.peer else { return trial }
        trial.goodPeer = goodPeer
        let context = ZMQContext()
        let stuck = try ZMQSocket(context, kind: .dealer, linger: 0, receiveQueue: 1, kernelReceiveBuffer: 4096)
        defer { stuck.close(); context.terminate() }
        try stuck.connect(endpoint)
        let heartbeat = Message(header: MessageHeader(command: .heartbeat, sender: 0))
        let frame = WireCodec().headerFrame(for: heartbeat)
        // Flood in batches until the server's send to the stuck peer waits (its queue is full).
        let floodStart = good.now()
        while trial.flooded < floodLimit, recording.blockedFor < 0.5, !recording.sends.contains(where: { $0.error != nil }),
              good.now() - floodStart < 120 {
            for _ in 0..<1000 { try frame.withUnsafeBytes { header in try stuck.send([header], payload: heartbeat.payload) } }
            trial.flooded += 1000
            usleep(20_000)
        }
        // And a few more, answered after the wait: they must not wait again.
        for _ in 0..<100 { try frame.withUnsafeBytes { header in try stuck.send([header], payload: heartbeat.payload) } }
        trial.flooded += 100

        // Worker 1 is answered: after at most one send timeout while the stuck peer's queue filled.
        let start = good.now()
        if !(try beat(good, rank: 1, server: serverPeer, seconds: bound)) { trial.unanswered += 1 }
        trial.answeredAfter = good.now() - start
        // Worker 1 keeps beating, and is answered, until the whole flood has been handled.
        while recording.sends.filter({ $0.peer != goodPeer }).count < trial.flooded, good.now() - start < 2 * bound {
            if !(try beat(good, rank: 1, server: serverPeer, seconds: bound)) { trial.unanswered += 1 }
            trial.beats += 1
        }
        stop.raise()
        trial.stopped = finished.wait(timeout: .now() + 30) == .success
        stopped = true
        trial.sends = recording.sends
        trial.failure = loop.server.failure.map { "\($0)" }
        return trial
    }

    /// How long worker 1 may wait for an answer: the send timeout and a loaded machine's slack.
    static let bound = ZMQSocket.routerSendTimeoutSeconds + 30

    @Test("a peer that stops reading costs the server one bounded send: it fails naming the peer, the loop keeps serving the others")
    func stuckPeer() async throws {
        let result: Result<Trial, Error> = await withCheckedContinuation { done in
            Thread.detachNewThread { done.resume(returning: Result { try Self.runTrial() }) }
        }
        let trial = try result.get()
        #expect(trial.answeredFirst, "the server does not answer at all")
        let goodPeer = try #require(trial.goodPeer)
        #expect(trial.unanswered == 0, "worker 1 was not answered within \(Self.bound) s \(trial.unanswered) time(s)")
        #expect(trial.stopped, "the server loop did not stop")
        let flooded = trial.flooded, beats = trial.beats, answeredAfter = trial.answeredAfter, bound = Self.bound

        let sends = trial.sends
        let flood = sends.filter { $0.peer != goodPeer }
        let waited = flood.filter { if case .peerNotReading(_, let s)? = $0.error { return s > 0 } else { return false } }
        let atOnce = flood.filter { if case .peerNotReading(_, let s)? = $0.error { return s == 0 } else { return false } }
        let first = try #require(waited.first, "no send waited for the stuck peer: its queue never filled (\(flood.count) answers)")
        print("""
            send timeout: \(flooded) heartbeats flooded; the stuck peer's queue took \(flood.count - waited.count - atOnce.count) answers; the next send returned \
            after \(String(format: "%.2f", first.seconds)) s with “\(first.error!)”; \(atOnce.count) later ones failed at once; \
            worker 1 answered \(String(format: "%.2f", answeredAfter)) s after the flood, then \(beats) more beats
            """)
        #expect(flood.count == flooded, "every heartbeat of the flood is handled")
        #expect(waited.count == 1, "each send to the stuck peer waited again: \(waited.map(\.seconds))")
        // It waited the whole timeout (the peer never read), and no longer than the bound.
        #expect(first.seconds >= ZMQSocket.routerSendTimeoutSeconds - 0.5 && first.seconds < bound)
        #expect(atOnce.count + waited.count == flood.filter { $0.error != nil }.count, "only peerNotReading: \(String(describing: flood.compactMap(\.error).first))")
        #expect(!atOnce.isEmpty, "the flood's later answers should fail at once")
        #expect(sends.filter { $0.peer == goodPeer }.allSatisfy { $0.error == nil }, "worker 1's answers all leave")
        #expect("\(first.error!)".contains("has not read its messages: its queue stayed full for 5.0 s"), "\(first.error!)")
        #expect(trial.failure == nil, "a peer that does not read is not the job's failure: \(trial.failure ?? "")")
    }
}
