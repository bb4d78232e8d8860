import Synchronization

/// The producer's side of a `SharedMemorySegment`: payloads are written into blocks taken in
/// ring order, each with an atomic count of holds in its 64-byte header: one per message sent
/// with it, dropped by the receiver when the last reader of the payload is gone
/// (`SharedMemoryLease`), and one while the producer may still send it (`write(key:)`). A block
/// whose count is 0 is free; freed blocks are reused oldest first. Nothing ever waits: when the
/// consumers still hold too much for a new payload to fit (or died holding it), `write` returns
/// nil and the caller sends that payload on its socket.
///
/// One ring may serve several consumers that all mapped it: a server's replies of a sync round
/// are one payload sent to every worker, written once (`write(key:)` finds it again).
///
/// Used by one thread (the transport's).
final class SharedMemoryRing {
    /// Bytes of a block's header (the hold count, then the payload length), and the payloads' alignment.
    static let blockHeaderBytes = 64

    /// What identifies a payload written for several messages: its memory, length and hash
    /// (payloads never change, so equal keys mean equal bytes).
    struct Key: Equatable {
        var base: UnsafeRawPointer, count: Int, hash: UInt64
    }

    /// The last payload written with a key, and its block, which keeps the producer's hold.
    private var recent: (key: Key, payloadOffset: Int)?

    let segment: SharedMemorySegment
    /// The first byte blocks may use.
    private var start: Int { SharedMemorySegment.headerBytes }
    /// Where the next block goes, unless it must wrap.
    private var head: Int
    /// Blocks given out and not reclaimed yet, oldest first: offset of the block header, end.
    private var outstanding: [(offset: Int, end: Int)] = []
    private var firstOutstanding = 0

    init(segment: SharedMemorySegment) {
        self.segment = segment
        head = SharedMemorySegment.headerBytes
    }

    /// A segment size whose ring holds every payload of `payloads` (bytes) at once, with room
    /// to spare for the wrap (a block that does not fit before the end starts over at the front).
    static func bytes(holding payloads: [Int]) -> Int {
        payloads.reduce(SharedMemorySegment.headerBytes) { $0 + blockBytes(payload: $1) } + (payloads.max() ?? 0) + (1 << 20)
    }

    /// Room for payloads: the segment less its header (one block header per payload comes off it too).
    var capacity: Int { segment.size - start }

    /// The offset in the segment of a payload of `count` bytes for one message, holding its
    /// block once (the message's hold): written with `fill` (given the block's payload memory)
    /// into a new block — or, for a `key` written last time, that block again. nil when no
    /// block of that size is free now.
    func write(count: Int, key: Key? = nil, fill: (UnsafeMutableRawPointer) -> Void) -> Int? {
        if let key, let r = recent, r.key == key {
            retain(payloadOffset: r.payloadOffset)
            return r.payloadOffset
        }
        if key != nil, let r = recent {  // the producer will not send that one again
            recent = nil
            release(payloadOffset: r.payloadOffset)
        }
        reclaim()
        let need = Self.blockBytes(payload: count)
        guard let offset = place(need) else { return nil }
        Self.holds(segment.base + offset).pointee.store(key == nil ? 1 : 2, ordering: .relaxed)
        (segment.base + offset).storeBytes(of: UInt64(count), toByteOffset: 8, as: UInt64.self)
        fill(segment.base + offset + Self.blockHeaderBytes)
        outstanding.append((offset, offset + need))
        head = offset + need
        if let key { recent = (key, offset + Self.blockHeaderBytes) }
        return offset + Self.blockHeaderBytes
    }

    /// Drops one hold of a payload's block: a message that was never sent (the send failed).
    func release(payloadOffset: Int) {
        Self.release(segment, payloadOffset: payloadOffset)
    }

    /// Drops one hold on the block whose payload starts at `payloadOffset` of `segment`.
    static func release(_ segment: SharedMemorySegment, payloadOffset: Int) {
        holds(segment.base + payloadOffset - blockHeaderBytes).pointee.subtract(1, ordering: .releasing)
    }

    /// Bytes a block takes for a payload of `count` bytes: its header, then the payload rounded
    /// up to whole cache lines.
    static func blockBytes(payload count: Int) -> Int {
        blockHeaderBytes + (count + 63) / 64 * 64
    }

    private func retain(payloadOffset: Int) {
        Self.holds(segment.base + payloadOffset - Self.blockHeaderBytes).pointee.add(1, ordering: .relaxed)
    }

    /// Blocks still held by the consumer.
    var blocksHeld: Int { reclaim(); return outstanding.count - firstOutstanding }

    /// Frees the oldest blocks the consumer has handed back (a block freed out of order waits
    /// until those before it are free too).
    private func reclaim() {
        while firstOutstanding < outstanding.count,
              Self.holds(segment.base + outstanding[firstOutstanding].offset).pointee.load(ordering: .acquiring) == 0 {
            firstOutstanding += 1
        }
        if firstOutstanding == outstanding.count {
            outstanding.removeAll(keepingCapacity: true); firstOutstanding = 0
            head = start
        } else if firstOutstanding > 64 {
            outstanding.removeFirst(firstOutstanding); firstOutstanding = 0
        }
    }

    /// The offset of `need` free bytes after `head`, or from the start once the oldest block
    /// held lies beyond them; nil when neither fits. (Going back to the start early, while
    /// there is room after `head`, was tried: the space after `head` is then lost until every
    /// block before it is free, and a ring sized for a round overflowed to the socket.)
    private func place(_ need: Int) -> Int? {
        let end = segment.size
        guard firstOutstanding < outstanding.count else { return need <= end - start ? start : nil }
        let tail = outstanding[firstOutstanding].offset
        if head > tail {  // blocks held lie in tail..<head: free space after head, and before tail
            if head + need <= end { return head }
            return start + need <= tail ? start : nil
        }
        return head + need <= tail ? head : nil  // wrapped: blocks held lie in tail..<end and start..<head
    }

    /// The atomic count of holds at the start of a block header.
    static func holds(_ block: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt32>> {
        block.assumingMemoryBound(to: Atomic<UInt32>.self)
    }
}

/// A consumer's hold on one block of a peer's ring: a received `Payload` adopts the block's
/// bytes with this as owner, and when the last reference goes the hold is dropped.
final class SharedMemoryLease: @unchecked Sendable {
    let segment: SharedMemorySegment
    let payloadOffset: Int
    let count: Int

    /// The payload at `payloadOffset` of `count` bytes, or nil when that is not a block the ring
    /// could have written (out of bounds or misaligned: a broken or hostile peer).
    init?(segment: SharedMemorySegment, payloadOffset: Int, count: Int) {
        let header = SharedMemoryRing.blockHeaderBytes
        guard payloadOffset % 64 == 0, payloadOffset >= SharedMemorySegment.headerBytes + header, count >= 0,
              count <= segment.size - payloadOffset else { return nil }
        self.segment = segment; self.payloadOffset = payloadOffset; self.count = count
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: segment.base + payloadOffset, count: count) }

    deinit { SharedMemoryRing.release(segment, payloadOffset: payloadOffset) }
}
