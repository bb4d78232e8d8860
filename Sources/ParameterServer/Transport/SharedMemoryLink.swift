import Foundation

/// The shared-memory payload path of a `ZeroMQTransport`, for peers on the same host: a large
/// payload is written once into a ring in shared memory by its producer (`SharedMemoryRing`)
/// and the ZeroMQ message carries only its header and the payload's place in the ring; the
/// consumer reads the payload there (`SharedMemoryLease`) and checks the header's checksum over
/// those bytes as over any payload. This replaces the kernel's two copies of each byte (into
/// and out of the socket) with the producer's one — and a server's reply of a sync round, sent
/// to every worker, is written once into the one ring all its peers map.
///
/// Chosen per peer by a handshake on the ZeroMQ channel, never assumed: the connecting side
/// offers its ring (`SharedMemorySegment.Address`); the bound side maps it — which works only on
/// the same host, as the same user, with the token right — and accepts with its own ring for
/// that peer; the connecting side maps that and confirms. Each side writes into its ring only
/// after the other side took it, and until then (or when a peer refuses, runs elsewhere, or its
/// ring is full) every payload goes on the socket as between hosts. No step waits.
///
/// Messages of this path start with an 8-byte tag frame ("PSSHM", version 1, the kind, 0),
/// which no message of the wire protocol has (its header frame is 40 bytes):
/// offer `[tag, offer JSON: the ring's address and the size asked of the bound side's ring]`, accept `[tag, address JSON or empty]`, confirm `[tag, empty]`,
/// refuse `[tag, reason]`, data `[tag, header, descriptor]` with the descriptor the payload's
/// offset and length (two little-endian UInt64).
final class SharedMemoryLink {
    enum Kind: UInt8 { case offer = 0x4F, accept = 0x41, confirm = 0x43, refuse = 0x52, data = 0x44 }

    /// The connecting side's ring, and how large a ring it asks of the bound side for its
    /// replies (which that ring carries for every peer: a dist_async server's replies to N
    /// workers are N different payloads, each waiting until its worker is done pushing).
    struct Offer: Codable {
        var ring: SharedMemorySegment.Address
        var repliesBytes: Int
    }

    /// Payloads at least this large take the shared path (smaller ones cost little on the socket).
    static let minimumPayload = 64 << 10
    /// The largest ring a peer may ask this side to make for it.
    static let maximumRing = 1 << 30

    /// How many large payloads (≥ `minimumPayload`) went each way on each path.
    struct Use: Equatable, Sendable, CustomStringConvertible {
        var sentShared = 0, sentOnSocket = 0, receivedShared = 0, receivedOnSocket = 0
        public var description: String {
            "payloads ≥ 64 KiB: \(sentShared) sent and \(receivedShared) received through shared memory, "
                + "\(sentOnSocket) sent and \(receivedOnSocket) received on the socket"
        }
    }

    private struct Peer {
        /// This side's ring for the peer, and whether the peer has mapped it.
        var outgoing: SharedMemoryRing?
        var peerReads = false
        /// The peer's ring for this side, mapped.
        var incoming: SharedMemorySegment?
    }

    private var peers: [PeerID: Peer] = [:]
    /// The bound side's one ring for its replies to every peer (all map it), so a reply sent to
    /// several workers is written once.
    private(set) var repliesRing: SharedMemoryRing?
    /// Whether this side takes part (false: every offer is refused).
    let enabled: Bool
    private(set) var use = Use()
    /// Why the last handshake did not give a shared path (for logs and benchmark output).
    private(set) var lastRefusal: String?

    init(enabled: Bool) { self.enabled = enabled }

    static func tag(_ kind: Kind) -> [UInt8] { Array("PSSHM".utf8) + [1, kind.rawValue, 0] }

    /// The kind of a tag frame; nil for any other frame.
    static func kind(of frame: UnsafeRawBufferPointer) -> Kind? {
        guard frame.count == 8, frame[0] == 0x50, frame[1] == 0x53, frame[2] == 0x53, frame[3] == 0x48, frame[4] == 0x4D,
              frame[5] == 1, frame[7] == 0 else { return nil }
        return Kind(rawValue: frame[6])
    }

    /// The ring to write a payload of `count` bytes for `peer` into, once the peer reads it.
    func ring(for peer: PeerID, count: Int) -> SharedMemoryRing? {
        guard count >= Self.minimumPayload, let p = peers[peer], p.peerReads else { return nil }
        return p.outgoing
    }

    /// Counts a large payload sent or received on the socket.
    func countSocket(sent: Bool, bytes: Int) {
        guard bytes >= Self.minimumPayload else { return }
        if sent { use.sentOnSocket += 1 } else { use.receivedOnSocket += 1 }
    }

    func countShared(sent: Bool) { if sent { use.sentShared += 1 } else { use.receivedShared += 1 } }

    /// The connecting side's offer of a ring of `bytes` to `peer`, asking for a ring of
    /// `repliesBytes` back: the frames to send, or nil when no segment can be made here (the
    /// reason is kept in `lastRefusal`).
    func offer(to peer: PeerID, bytes: Int, repliesBytes: Int) -> [[UInt8]]? {
        guard enabled else { return nil }
        do {
            let ring = SharedMemoryRing(segment: try SharedMemorySegment.create(bytes: bytes))
            peers[peer, default: Peer()].outgoing = ring
            peers[peer]?.peerReads = false
            return [Self.tag(.offer), try JSONEncoder().encode(Offer(ring: ring.segment.address, repliesBytes: repliesBytes)).bytes]
        } catch {
            lastRefusal = "\(error)"
            return nil
        }
    }

    /// Handles a handshake message from `peer`; returns the frames to answer with, if any.
    func handle(_ kind: Kind, body: [UInt8], from peer: PeerID) -> [[UInt8]]? {
        switch kind {
        case .offer:
            guard enabled else { return [Self.tag(.refuse), Array("shared memory is turned off on this side".utf8)] }
            do throws(SharedMemoryError) {
                guard let offer = try? JSONDecoder().decode(Offer.self, from: Data(body)) else {
                    throw .unavailable("the offer is not a segment address")
                }
                let incoming = try SharedMemorySegment.open(offer.ring)
                let ring: SharedMemoryRing
                if let made = repliesRing { ring = made } else {
                    ring = SharedMemoryRing(segment: try SharedMemorySegment.create(bytes: min(max(offer.repliesBytes, offer.ring.bytes), Self.maximumRing)))
                    repliesRing = ring
                }
                peers[peer] = Peer(outgoing: ring, peerReads: false, incoming: incoming)
                return [Self.tag(.accept), (try? JSONEncoder().encode(ring.segment.address).bytes) ?? []]
            } catch {
                lastRefusal = error.description
                peers[peer] = nil
                return [Self.tag(.refuse), Array(error.description.utf8)]
            }
        case .accept:
            guard peers[peer]?.outgoing != nil else { return nil }
            peers[peer]?.peerReads = true
            do throws(SharedMemoryError) {
                guard let address = try? JSONDecoder().decode(SharedMemorySegment.Address.self, from: Data(body)) else {
                    throw .unavailable("the peer sent no segment address")
                }
                peers[peer]?.incoming = try SharedMemorySegment.open(address)
                return [Self.tag(.confirm), []]
            } catch {
                lastRefusal = error.description
                return [Self.tag(.refuse), Array(error.description.utf8)]
            }
        case .confirm:
            if peers[peer]?.outgoing != nil { peers[peer]?.peerReads = true }
            return nil
        case .refuse:
            lastRefusal = String(decoding: body, as: UTF8.self)
            peers[peer]?.outgoing = nil
            peers[peer]?.peerReads = false
            return nil
        case .data:
            return nil
        }
    }

    /// The payload a data message's descriptor names in `peer`'s ring, kept until its last
    /// reader is gone; an error when the peer has no ring mapped here or names bytes outside it.
    func payload(descriptor: UnsafeRawBufferPointer, from peer: PeerID) -> Result<Payload, WireError> {
        guard descriptor.count == 16 else { return .failure(.badSharedMemoryReference("descriptor of \(descriptor.count) bytes, not 16")) }
        guard let segment = peers[peer]?.incoming else {
            return .failure(.badSharedMemoryReference("a payload in shared memory from a peer whose segment is not mapped here"))
        }
        let offset = UInt64(littleEndian: descriptor.loadUnaligned(as: UInt64.self))
        let count = UInt64(littleEndian: descriptor.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        guard offset < UInt64(segment.size), count <= UInt64(segment.size),
              let lease = SharedMemoryLease(segment: segment, payloadOffset: Int(offset), count: Int(count)) else {
            return .failure(.badSharedMemoryReference("bytes \(offset)..<\(offset &+ count) are not a block of a \(segment.size)-byte segment"))
        }
        countShared(sent: false)
        return .success(Payload(adopting: lease.bytes, owner: lease))
    }

    /// The descriptor frame of a payload at `offset` of `count` bytes.
    static func descriptor(offset: Int, count: Int) -> [UInt8] {
        var d = [UInt8](repeating: 0, count: 16)
        d.withUnsafeMutableBytes {
            $0.storeBytes(of: UInt64(offset).littleEndian, as: UInt64.self)
            $0.storeBytes(of: UInt64(count).littleEndian, toByteOffset: 8, as: UInt64.self)
        }
        return d
    }

    /// Whether `peer` reads this side's ring (for tests and status lines).
    func peerReads(_ peer: PeerID) -> Bool { peers[peer]?.peerReads ?? false }
}

private extension Data {
    var bytes: [UInt8] { [UInt8](self) }
}
