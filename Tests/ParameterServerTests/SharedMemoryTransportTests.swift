import Foundation
import Glibc
@testable import ParameterServer
import Testing

/// The shared-memory payload path of `ZeroMQTransport` between a DEALER and a ROUTER on
/// 127.0.0.1: the handshake, payloads both ways, a full ring falling back to the socket, a
/// refusal, corruption and bad references caught, and nothing left in /dev/shm.
@Suite("Shared-memory payloads")
struct SharedMemoryTransportTests {
    /// A bound server and a connected client, both willing (unless told otherwise).
    struct Pair {
        let server: ZeroMQTransport, client: ZeroMQTransport, endpoint: PeerID
        /// The server's name for the client (learned from its first message).
        var clientPeer: PeerID?

        init(serverShares: Bool = true) throws {
            server = try ZeroMQTransport.bind("tcp://127.0.0.1:0", sharedMemory: serverShares)
            let bound = try #require(server.boundEndpoint)
            client = try ZeroMQTransport.connect(to: [bound], identity: { _ in "w0" }, sharedMemory: true)
            endpoint = PeerID(bound)
            clientPeer = PeerID("w0")
        }

        /// Offers a ring of `bytes` and runs both receive loops until the handshake ended (both
        /// directions shared, or a refusal reached the client), for at most 10 s.
        func handshake(bytes: Int) throws -> Bool {
            try client.offerSharedMemory(bytes: bytes, repliesBytes: bytes, to: endpoint)
            let deadline = server.now() + 10
            while server.now() < deadline {
                if let m = try server.receive(deadline: server.now() + 0.02) { Issue.record("unexpected \(m)") }
                if let m = try client.receive(deadline: client.now() + 0.02) { Issue.record("unexpected \(m)") }
                if client.sharedMemory.lastRefusal != nil { return false }
                if client.sharedMemory.peerReads(endpoint), server.sharedMemory.peerReads(PeerID("w0")) { return true }
            }
            return false
        }

        func close() { client.close(); server.close() }
    }

    static func values(_ n: Int, seed: Float) -> [Float] { (0..<n).map { Float($0 % 977) * 0.125 - seed } }

    @Test("a push and its reply travel through shared memory, intact both ways")
    func roundTrip() throws {
        let pair = try Pair()
        defer { pair.close() }
        #expect(try pair.handshake(bytes: 4 << 20))
        let push = Self.values(300_000, seed: 3)
        let header = MessageHeader(command: .pushPull, key: 4, sender: 0, round: 1, requestID: 9)
        try push.withUnsafeBytes { try pair.client.send(header, borrowing: $0, to: pair.endpoint) }
        guard case .message(let got, let from)? = try pair.server.receive(deadline: pair.server.now() + 10) else {
            Issue.record("no push within 10 s"); return
        }
        #expect(try got.floats() == push)
        let reply = Self.values(300_000, seed: -1)
        try pair.server.send(Message(header: header.reply(sender: -1), payload: reply.withUnsafeBufferPointer { Payload(floats: $0) }), to: from)
        guard case .message(let back, _)? = try pair.client.receive(deadline: pair.client.now() + 10) else {
            Issue.record("no reply within 10 s"); return
        }
        #expect(try back.floats() == reply)
        #expect(pair.client.sharedMemory.use == .init(sentShared: 1, sentOnSocket: 0, receivedShared: 1, receivedOnSocket: 0))
        #expect(pair.server.sharedMemory.use == .init(sentShared: 1, sentOnSocket: 0, receivedShared: 1, receivedOnSocket: 0))
    }

    @Test("a reply sent to two workers is written once into the ring both map, and freed once both let go")
    func replyWrittenOnce() throws {
        let pair = try Pair()
        defer { pair.close() }
        #expect(try pair.handshake(bytes: 4 << 20))
        let second = try ZeroMQTransport.connect(to: [pair.endpoint.description], identity: { _ in "w1" }, sharedMemory: true)
        defer { second.close() }
        try second.offerSharedMemory(bytes: 4 << 20, repliesBytes: 4 << 20, to: pair.endpoint)
        let deadline = pair.server.now() + 10
        while !(second.sharedMemory.peerReads(pair.endpoint) && pair.server.sharedMemory.peerReads(PeerID("w1"))), pair.server.now() < deadline {
            _ = try pair.server.receive(deadline: pair.server.now() + 0.02)
            _ = try second.receive(deadline: second.now() + 0.02)
        }
        #expect(pair.server.sharedMemory.peerReads(PeerID("w1")))
        let weights = Self.values(200_000, seed: 9)
        let reply = weights.withUnsafeBufferPointer { Payload(floats: $0) }
        for w in ["w0", "w1"] {
            try pair.server.send(Message(header: MessageHeader(command: .pull, isReply: true, sender: -1), payload: reply), to: PeerID(w))
        }
        var got: [Message] = []
        for client in [pair.client, second] {
            if case .message(let m, _)? = try client.receive(deadline: client.now() + 10) { got.append(m) }
        }
        #expect(got.count == 2)
        for m in got { #expect(try m.floats() == weights) }
        let ring = try #require(pair.server.sharedMemory.repliesRing)
        #expect(ring.blocksHeld == 1, "one block for both replies")
        #expect(pair.server.sharedMemory.use.sentShared == 2)
        got.removeAll()
        // Another payload: the first block is no longer the producer's to send again, and both
        // workers let go of it, so only the new one is held.
        let other = Self.values(200_000, seed: 2).withUnsafeBufferPointer { Payload(floats: $0) }
        try pair.server.send(Message(header: MessageHeader(command: .pull, isReply: true, sender: -1), payload: other), to: PeerID("w0"))
        #expect(ring.blocksHeld == 1)
        if case .message(let m, _)? = try pair.client.receive(deadline: pair.client.now() + 10) {
            #expect(try m.floats() == Self.values(200_000, seed: 2))
        } else {
            Issue.record("no second reply")
        }
    }

    @Test("a full ring sends on the socket instead of waiting, and is used again once its blocks are freed")
    func fullRingFallsBack() throws {
        let pair = try Pair()
        defer { pair.close() }
        // Room for one 600 KB payload, not two.
        #expect(try pair.handshake(bytes: 1 << 20))
        let a = Self.values(150_000, seed: 1), b = Self.values(150_000, seed: 2), c = Self.values(150_000, seed: 5)
        let header = MessageHeader(command: .push, key: 1, sender: 0, round: 1)
        try a.withUnsafeBytes { try pair.client.send(header, borrowing: $0, to: pair.endpoint) }
        var first: Message?
        if case .message(let m, _)? = try pair.server.receive(deadline: pair.server.now() + 10) { first = m }
        #expect(try first?.floats() == a)
        // The server still holds the first payload: the second cannot go through the ring.
        try b.withUnsafeBytes { try pair.client.send(header, borrowing: $0, to: pair.endpoint) }
        guard case .message(let second, _)? = try pair.server.receive(deadline: pair.server.now() + 10) else {
            Issue.record("no second push"); return
        }
        #expect(try second.floats() == b)
        #expect(pair.client.sharedMemory.use.sentShared == 1 && pair.client.sharedMemory.use.sentOnSocket == 1)
        first = nil  // the block is handed back
        try c.withUnsafeBytes { try pair.client.send(header, borrowing: $0, to: pair.endpoint) }
        guard case .message(let third, _)? = try pair.server.receive(deadline: pair.server.now() + 10) else {
            Issue.record("no third push"); return
        }
        #expect(try third.floats() == c)
        #expect(pair.client.sharedMemory.use.sentShared == 2)
    }

    @Test("a side with shared memory turned off refuses, and payloads stay on the socket")
    func refusal() throws {
        let pair = try Pair(serverShares: false)
        defer { pair.close() }
        #expect(try pair.handshake(bytes: 1 << 20) == false)
        #expect(pair.client.payloadPaths?.contains("turned off") == true, "\(pair.client.payloadPaths ?? "")")
        let push = Self.values(100_000, seed: 0)
        try push.withUnsafeBytes { try pair.client.send(MessageHeader(command: .push, sender: 0), borrowing: $0, to: pair.endpoint) }
        guard case .message(let got, _)? = try pair.server.receive(deadline: pair.server.now() + 10) else {
            Issue.record("no push"); return
        }
        #expect(try got.floats() == push)
        #expect(pair.client.sharedMemory.use == .init(sentShared: 0, sentOnSocket: 1, receivedShared: 0, receivedOnSocket: 0))
    }

    @Test("a payload changed in shared memory after it was sent fails the checksum")
    func corruptionCaught() throws {
        let pair = try Pair()
        defer { pair.close() }
        #expect(try pair.handshake(bytes: 1 << 20))
        let push = Self.values(100_000, seed: 4)
        for position in [0, 4 * 50_000 + 1, 4 * 100_000 - 1] {
            try push.withUnsafeBytes { try pair.client.send(MessageHeader(command: .push, sender: 0), borrowing: $0, to: pair.endpoint) }
            // The ring was empty: this payload is its first block.
            let ring = try #require(pair.client.sharedMemory.ring(for: pair.endpoint, count: 1 << 20))
            let first = SharedMemorySegment.headerBytes + SharedMemoryRing.blockHeaderBytes
            ring.segment.base.storeBytes(of: ring.segment.base.load(fromByteOffset: first + position, as: UInt8.self) ^ 0x08,
                                         toByteOffset: first + position, as: UInt8.self)
            let received = try pair.server.receive(deadline: pair.server.now() + 10)
            guard case .malformed(let error, _)? = received, case .checksumMismatch = error else {
                Issue.record("a flipped bit at byte \(position) was not caught: \(String(describing: received))"); continue
            }
        }
    }

    @Test("a reference outside the peer's segment, or from a peer without one, is rejected")
    func badReferences() throws {
        let pair = try Pair()
        defer { pair.close() }
        #expect(try pair.handshake(bytes: 1 << 20))
        let header = WireCodec().headerFrame(for: MessageHeader(command: .push, sender: 0), payloadLength: 64, payloadHash: 0)
        for (offset, count) in [(1 << 40, 64), (128, 1 << 30), (130, 64), (0, 64)] {
            try pair.client.sendRaw([SharedMemoryLink.tag(.data), header, SharedMemoryLink.descriptor(offset: offset, count: count)],
                                    to: pair.endpoint)
            let received = try pair.server.receive(deadline: pair.server.now() + 10)
            guard case .malformed(let error, _)? = received, case .badSharedMemoryReference = error else {
                Issue.record("offset \(offset) count \(count) was not rejected: \(String(describing: received))"); continue
            }
        }
        // A second client that never offered anything.
        let other = try ZeroMQTransport.connect(to: [pair.endpoint.description])
        defer { other.close() }
        try other.sendRaw([SharedMemoryLink.tag(.data), header, SharedMemoryLink.descriptor(offset: 128, count: 64)], to: pair.endpoint)
        let received = try pair.server.receive(deadline: pair.server.now() + 10)
        guard case .malformed(let error, _)? = received, case .badSharedMemoryReference = error else {
            Issue.record("a reference from a peer without a segment was not rejected: \(String(describing: received))"); return
        }
    }

    @Test("a segment opens only with the token it was made with, and only on its host")
    func segmentProof() throws {
        let segment = try SharedMemorySegment.create(bytes: 1 << 16)
        var wrongToken = segment.address
        wrongToken.token = String(repeating: "0", count: 32)
        #expect(throws: SharedMemoryError.self) { _ = try SharedMemorySegment.open(wrongToken) }
        var otherHost = segment.address
        otherHost.bootID = "not-this-host"
        #expect(throws: SharedMemoryError.notThisHost) { _ = try SharedMemorySegment.open(otherHost) }
        let mapped = try SharedMemorySegment.open(segment.address)
        mapped.base.storeBytes(of: 42, toByteOffset: 100, as: UInt8.self)
        #expect(segment.base.load(fromByteOffset: 100, as: UInt8.self) == 42)
    }

    @Test("a segment larger than /dev/shm's free space is refused when made (the payloads then take the socket), not a SIGBUS at its first write")
    func segmentBeyondDevShm() throws {
        var info = statvfs()
        try #require(statvfs("/dev/shm", &info) == 0, "this system has no /dev/shm")
        let free = Int(info.f_bavail) * Int(info.f_frsize)
        let error = #expect(throws: SharedMemoryError.self) { _ = try SharedMemorySegment.create(bytes: free + (1 << 30)) }
        guard case .create(let reason) = error else { Issue.record("not a creation error: \(String(describing: error))"); return }
        #expect(reason.contains("/dev/shm") && reason.contains("--shm-size"), "\(reason)")
    }
}

/// Real `param-server` and `ssd kv-probe` processes on 127.0.0.1 use the shared path on their
/// own, and leave nothing in /dev/shm when killed.
@Suite("Shared-memory payloads between processes", .serialized)
struct SharedMemoryProcessTests {
    /// Shared-memory objects of this project's segments in /dev/shm (their names are unlinked
    /// at creation, so there should never be any).
    static func namesInDevShm() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/dev/shm")) ?? []).filter { $0.hasPrefix("ssd-ps-") }
    }

    /// Processes other than this one that map a segment of this project.
    static func othersMappingSegments() -> Int {
        let me = "\(getpid())"
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { $0 != me && Int($0) != nil }
        return pids.filter { pid in
            (try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8))?.contains("/dev/shm/ssd-ps-") == true
        }.count
    }

    @Test("a worker's big-key pull arrives through shared memory; the paths are reported")
    func processesShare() async throws {
        let cluster = try ProcessCluster(servers: 1, workers: 1)
        try await cluster.startAll(probeArguments: ["--steps", "2", "--big-key", "100003", "--big-array-bound", "10000000"])
        let status = await cluster.waitAll(seconds: 60)
        for (name, s) in status { #expect(s == 0, "\(name): \(cluster.errors(name))") }
        let r = try decodeProbe(cluster.output("worker 0"))
        #expect(r.bigKeyRoundTrip == true)
        #expect(r.payloadPaths?.contains("1 received through shared memory") == true, "\(r.payloadPaths ?? "no paths")")
    }

    @Test("PS_SHARED_MEMORY=off keeps every payload on the socket")
    func turnedOff() async throws {
        let cluster = try ProcessCluster(servers: 1, workers: 1)
        cluster.extraEnvironment = ["PS_SHARED_MEMORY": "off"]
        try await cluster.startAll(probeArguments: ["--steps", "2", "--big-key", "100003", "--big-array-bound", "10000000"])
        let status = await cluster.waitAll(seconds: 60)
        for (name, s) in status { #expect(s == 0, "\(name): \(cluster.errors(name))") }
        let r = try decodeProbe(cluster.output("worker 0"))
        #expect(r.bigKeyRoundTrip == true)
        #expect(r.payloadPaths?.contains("0 sent and 0 received through shared memory") == true, "\(r.payloadPaths ?? "no paths")")
    }

    @Test("a cluster killed with SIGKILL while sharing memory leaves nothing in /dev/shm")
    func killedRunLeavesNothing() async throws {
        let before = Self.namesInDevShm()
        let cluster = try ProcessCluster(servers: 1, workers: 2)
        try await cluster.startAll(probeArguments: ["--steps", "400", "--step-delay", "0.05", "--big-key", "100003",
                                                    "--big-array-bound", "10000000"])
        #expect(await cluster.waitUntilTraining(), "the cluster did not start training")
        // The segments are mapped once the workers' handshakes are done (bounded wait).
        let deadline = ContinuousClock.now + .seconds(20)
        while Self.othersMappingSegments() < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(Self.othersMappingSegments() >= 3, "the server and both workers should map segments")
        cluster.stopAll()
        for name in cluster.names { _ = await cluster.wait(name, seconds: 20) }
        #expect(Self.namesInDevShm() == before, "left in /dev/shm: \(Self.namesInDevShm())")
    }
}
