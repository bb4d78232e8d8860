/// The ZeroMQ transport (ps-lite's `zmq_van`): a server or scheduler binds one ROUTER and
/// names its peers by their routing ids; a worker holds one DEALER per server and names each
/// server by its endpoint. Every transport owns its ZeroMQ context, so `close()` can wait —
/// at most `linger` seconds — until the last messages have left, instead of sleeping.
public final class ZeroMQTransport: Transport {
    public private(set) var codec: WireCodec
    public var profile: RoundProfile?
    /// The endpoint bound (ROUTER) or nil (DEALERs).
    public let boundEndpoint: String?
    private let context: ZMQContext
    private let sockets: [ZMQSocket]
    /// DEALERs only: the peer each socket reaches.
    private let peers: [PeerID]
    private let isRouter: Bool
    private var nextSocket = 0
    /// Borrowed payload frames ZeroMQ still holds (`send(_:borrowing:to:)`).
    let lent = LentFrames()
    /// Payloads at least this large are sent borrowed; smaller ones are copied (the copy costs
    /// little, and a caller's short-lived buffer is then no concern).
    static let borrowedPayloadMinimum = 64 << 10
    /// ROUTER only: the IP address each peer last sent from.
    private var addresses: [PeerID: String] = [:]
    /// Large payloads to and from peers on this host through shared memory (`SharedMemoryLink`).
    let sharedMemory: SharedMemoryLink

    private init(context: ZMQContext, sockets: [ZMQSocket], peers: [PeerID], bound: String?, codec: WireCodec, sharedMemory: Bool) {
        self.context = context; self.sockets = sockets; self.peers = peers; self.boundEndpoint = bound; self.codec = codec
        isRouter = bound != nil
        self.sharedMemory = SharedMemoryLink(enabled: sharedMemory)
    }

    /// A ROUTER bound to `endpoint` (`tcp://host:0` picks a free port; see `boundEndpoint`).
    /// With `security`, a CURVE server admitting only the authorised client keys. With
    /// `sharedMemory`, peers on this host that offer it send and get large payloads through
    /// shared memory (`SharedMemoryLink`).
    public static func bind(_ endpoint: String, codec: WireCodec = WireCodec(), linger: Double = 1,
                            security: CurveKeys? = nil, sharedMemory: Bool = false) throws(TransportError) -> ZeroMQTransport {
        let context = ZMQContext()
        let socket = try ZMQSocket(context, kind: .router, linger: linger)
        if let security {
            guard let secret = security.serverSecret else {
                throw .insecure(SecurityError.noServerSecret(directory: security.directory).description)
            }
            try context.startZAP(authorized: security.authorized)
            try socket.secureAsServer(secretKey: secret)
        }
        let bound = try socket.bind(endpoint)
        return ZeroMQTransport(context: context, sockets: [socket], peers: [], bound: bound, codec: codec, sharedMemory: sharedMemory)
    }

    /// One DEALER per endpoint; peer `PeerID(endpoint)` is reached through its own socket.
    /// `identity(i)` names this process to endpoint i's ROUTER (nil: ZeroMQ picks one).
    /// With `security`, every socket is a CURVE client holding the cluster's client key. With
    /// `sharedMemory`, `offerSharedMemory` may move large payloads to servers on this host
    /// through shared memory. `sendTimeout` (seconds; nil: none) bounds a send that finds no
    /// connection ready to take it — one whose handshake failed, e.g. refused by a CURVE peer —
    /// which ZeroMQ would otherwise wait for without end; it then fails with `peerNotReading`.
    public static func connect(to endpoints: [String], identity: ((Int) -> String)? = nil, codec: WireCodec = WireCodec(),
                               linger: Double = 1, security: CurveKeys? = nil, sharedMemory: Bool = false,
                               sendTimeout: Double? = nil) throws(TransportError) -> ZeroMQTransport {
        let context = ZMQContext()
        var sockets: [ZMQSocket] = []
        for (i, endpoint) in endpoints.enumerated() {
            let s = try ZMQSocket(context, kind: .dealer, linger: linger, identity: identity.map { Array($0(i).utf8) })
            if let sendTimeout { try s.limitSends(toSeconds: sendTimeout) }
            if let security {
                try s.secureAsClient(serverKey: security.serverPublic, publicKey: security.clientPublic, secretKey: security.clientSecret)
            }
            try s.connect(endpoint)
            sockets.append(s)
        }
        return ZeroMQTransport(context: context, sockets: sockets, peers: endpoints.map(PeerID.init), bound: nil, codec: codec,
                               sharedMemory: sharedMemory)
    }

    deinit { close() }

    /// Closes the sockets and waits until their queued messages have left (at most the linger bound).
    public func close() {
        for s in sockets { s.close() }
        context.terminate()
    }

    public func now() -> Double { MonotonicClock.now() }

    /// Secure ROUTERs only: CURVE handshakes refused so far (a client key not authorised).
    public var refusedConnections: Int { context.zap?.refused ?? 0 }

    /// The IP address `peer` sends from (ROUTER), or the endpoint a DEALER reaches it at.
    public func address(of peer: PeerID) -> String? {
        isRouter ? addresses[peer] : peers.contains(peer) ? peer.description : nil
    }

    public func send(headerFrame: [UInt8], payload: Payload, to peer: PeerID) throws(TransportError) {
        if let ring = sharedMemory.ring(for: peer, count: payload.count) {
            // A payload whose hash is known (a server's reply) is written once for all the peers it goes to.
            let key = isRouter ? payload.storage.flatMap { s in s.hash.map { SharedMemoryRing.Key(base: s.base, count: s.count, hash: $0) } } : nil
            let sent = try profile.measure(isRouter ? .reply : .send) { () throws(TransportError) in
                try sendShared(ring: ring, count: payload.count, key: key, to: peer, headerFrame: headerFrame) { destination in
                    payload.withUnsafeBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                    return headerFrame
                }
            }
            if sent { return }
        }
        sharedMemory.countSocket(sent: true, bytes: payload.count)
        let sent: Result<Void, TransportError> = headerFrame.withUnsafeBytes { header in
            if isRouter {
                return profile.measure(.reply) {
                    peer.bytes.withUnsafeBytes { id in Result { () throws(TransportError) in try sockets[0].send([id, header], payload: payload) } }
                }
            }
            guard let i = peers.firstIndex(of: peer) else { return .failure(.peerUnreachable(peer)) }
            return profile.measure(.send) { Result { () throws(TransportError) in try sockets[i].send([header], payload: payload) } }
        }
        try sent.get()
    }

    /// A DEALER sends a large payload from the caller's memory: hashed in place (one read, no
    /// copy) and handed to ZeroMQ as a zero-copy frame whose free function only counts it back.
    public func send(_ header: MessageHeader, borrowing payload: UnsafeRawBufferPointer, to peer: PeerID) throws(TransportError) {
        guard !isRouter, payload.count >= Self.borrowedPayloadMinimum else { return try send(header, payload: payload, to: peer) }
        guard let i = peers.firstIndex(of: peer) else { throw .peerUnreachable(peer) }
        if let ring = sharedMemory.ring(for: peer, count: payload.count) {
            // Copied once into shared memory, hashed in the same pass; the caller's memory is free at once.
            let sent = try profile.measure(.send) { () throws(TransportError) in
                try sendShared(ring: ring, count: payload.count, to: peer) { destination in
                    let hash = WireChecksum.copyAndHash(payload, to: destination)
                    return codec.headerFrame(for: header, payloadLength: payload.count, payloadHash: hash)
                }
            }
            if sent { return }
        }
        sharedMemory.countSocket(sent: true, bytes: payload.count)
        let sent: Result<Void, TransportError> = profile.measure(.send) {
            codec.headerFrame(for: header, payload: payload).withUnsafeBytes { h in
                Result { () throws(TransportError) in try sockets[i].send([h], borrowed: payload, lent: lent) }
            }
        }
        try sent.get()
    }

    /// Writes a payload of `count` bytes into `ring` with `fill`, which returns the header frame
    /// (unless `key` names the payload written last, whose block is sent again), and sends the
    /// header with the payload's place; false (nothing sent) when the ring has no room now — the
    /// caller sends on the socket. `fill` may not be called: it must return the same header
    /// frame as `headerFrame` then.
    private func sendShared(ring: SharedMemoryRing, count: Int, key: SharedMemoryRing.Key? = nil, to peer: PeerID,
                            headerFrame: [UInt8]? = nil, fill: (UnsafeMutableRawPointer) -> [UInt8]) throws(TransportError) -> Bool {
        var header = headerFrame ?? []
        guard let offset = ring.write(count: count, key: key, fill: { header = fill($0) }) else { return false }
        do {
            try sendControl([SharedMemoryLink.tag(.data), header, SharedMemoryLink.descriptor(offset: offset, count: count)], to: peer)
        } catch {
            ring.release(payloadOffset: offset)
            throw error
        }
        sharedMemory.countShared(sent: true)
        return true
    }

    /// Sends small frames (copied) to `peer`: a ROUTER prefixes its routing id.
    private func sendControl(_ frames: [[UInt8]], to peer: PeerID) throws(TransportError) {
        let socket: ZMQSocket
        if isRouter { socket = sockets[0] } else if let i = peers.firstIndex(of: peer) { socket = sockets[i] } else { throw .peerUnreachable(peer) }
        try withRawBuffers(isRouter ? [peer.bytes] + frames : frames) { raw in Result { () throws(TransportError) in try socket.send(raw) } }.get()
    }

    /// Offers `peer` (a server this transport connects to) a ring of `bytes` in shared memory
    /// for large payloads, when made with `sharedMemory`. Once the server has mapped it — only
    /// possible on the same host, as the same user — pushes go through it, and the server's
    /// replies through the ring it offers back (for all its peers: `repliesBytes`); until then,
    /// and whenever a ring is full, on the socket. Returns without waiting.
    public func offerSharedMemory(bytes: Int, repliesBytes: Int, to peer: PeerID) throws(TransportError) {
        guard !isRouter, peers.contains(peer),
              let frames = sharedMemory.offer(to: peer, bytes: bytes, repliesBytes: repliesBytes) else { return }
        try sendControl(frames, to: peer)
    }

    /// How large payloads travelled so far: through shared memory or on the socket (and, when a
    /// handshake gave no shared path, why).
    public var payloadPaths: String? {
        sharedMemory.use.description + (sharedMemory.lastRefusal.map { "; no shared memory with a peer: \($0)" } ?? "")
    }

    /// With borrowed frames still in ZeroMQ: closes the sockets without linger and ends the
    /// context, which returns once ZeroMQ released every frame.
    public func reclaimBorrowedPayloads() {
        guard lent.outstanding > 0 else { return }
        for s in sockets { s.closeDroppingUnsent() }
        context.terminate()
    }

    public func limitIncomingPayloads(toBytes bytes: Int) {
        codec.maxPayloadBytes = bytes
        // ZeroMQ checks each frame; the header frame is smaller than any payload limit we set.
        for s in sockets { s.limitMessageSize(to: max(bytes, MessageHeader.byteCount)) }
    }

    /// Raw frames to `peer`, bypassing the codec (tests of malformed input only).
    public func sendRaw(_ frames: [[UInt8]], to peer: PeerID) throws(TransportError) {
        let all = isRouter ? [peer.bytes] + frames : frames
        let socket: ZMQSocket
        if isRouter { socket = sockets[0] } else if let i = peers.firstIndex(of: peer) { socket = sockets[i] } else { throw .peerUnreachable(peer) }
        try withRawBuffers(all) { raw in Result { () throws(TransportError) in try socket.send(raw) } }.get()
    }

    public func receive(deadline: Double) throws(TransportError) -> Received? {
        while true {
            // Round-robin over the sockets so one busy server cannot starve another's replies.
            for k in 0..<sockets.count {
                let i = (nextSocket + k) % sockets.count
                let got = try profile.measure(.receive) { () throws(TransportError) in try sockets[i].receiveNow() }
                guard let (frames, address) = got else { continue }
                nextSocket = (i + 1) % sockets.count
                let peer = isRouter ? PeerID(frames.first?.array ?? []) : peers[i]
                if isRouter, let address { addresses[peer] = address }
                let message = isRouter ? Array(frames.dropFirst()) : frames
                if let kind = message.first.flatMap({ SharedMemoryLink.kind(of: $0.bytes) }) {
                    guard let received = sharedMemoryMessage(kind, message, from: peer) else { continue }
                    return received
                }
                return decode(message, from: peer)
            }
            let left = deadline - now()
            if left <= 0 { return nil }
            _ = ZMQSocket.poll(sockets, seconds: left)
        }
    }

    /// A message of the shared-memory path: a handshake step (answered here; nil) or a payload
    /// in the peer's ring, decoded like any message.
    private func sharedMemoryMessage(_ kind: SharedMemoryLink.Kind, _ frames: [ZMQFrame], from peer: PeerID) -> Received? {
        guard kind == .data else {
            if frames.count == 2, let answer = sharedMemory.handle(kind, body: frames[1].array, from: peer) {
                try? sendControl(answer, to: peer)  // unanswered, the peer keeps using its socket
            }
            return nil
        }
        guard frames.count == 3 else { return .malformed(.wrongFrameCount(frames.count - 1), from: peer) }
        switch sharedMemory.payload(descriptor: frames[2].bytes, from: peer) {
        case .success(let payload): return decode(header: frames[1], payload: payload, from: peer)
        case .failure(let error): return .malformed(error, from: peer)
        }
    }

    /// Decodes header and payload frames; the payload is read where ZeroMQ received it.
    private func decode(_ frames: [ZMQFrame], from peer: PeerID) -> Received {
        guard frames.count == 2 else { return .malformed(.wrongFrameCount(frames.count), from: peer) }
        sharedMemory.countSocket(sent: false, bytes: frames[1].bytes.count)
        return decode(header: frames[0], payload: Payload(adopting: frames[1].bytes, owner: frames[1]), from: peer)
    }

    /// Decodes a header frame and its payload (read where it is).
    private func decode(header: ZMQFrame, payload: Payload, from peer: PeerID) -> Received {
        do throws(WireError) {
            let decoded = profile.measure(.checksum) { Result { () throws(WireError) in try codec.decode(header: header.array, payload: payload) } }
            return .message(try decoded.get(), from: peer)
        } catch {
            return .malformed(error, from: peer)
        }
    }
}

/// Runs `body` with raw views of the arrays (kept alive for the call).
func withRawBuffers<R>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
    func go(_ i: Int, _ views: [UnsafeRawBufferPointer]) -> R {
        if i == arrays.count { return body(views) }
        return arrays[i].withUnsafeBytes { go(i + 1, views + [$0]) }
    }
    return go(0, [])
}
