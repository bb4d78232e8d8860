import Synchronization

/// The producer's side of a `SharedMemorySegment`: payloads are written into blocks taken in
/// ring order, and each block is handed back by its consumer — an atomic flag in the block's
/// 64-byte header, cleared when the last reader of the payload is gone (`SharedMemoryLease`).
/// Freed blocks are reused oldest first. Nothing ever waits: when the consumer still holds too
/// much for a new payload to fit (or died holding it), `write` returns nil and the caller sends
/// that payload on its socket.
///
/// Used by one thread (the transport's).
final class SharedMemoryRing {
    /// Bytes of a block's header (the flag, then the payload length), and the payloads' alignment.
    static let blockHeaderBytes = 64
    /// Flag values at a block's start.
    static let held: UInt32 = 1, free: UInt32 = 0

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
        payloads.reduce(SharedMemorySegment.headerBytes) { $0 + blockHeaderBytes + ($1 + 63) / 64 * 64 } + (payloads.max() ?? 0) + (1 << 20)
    }

    /// Room for payloads: the segment less its header (one block header per payload comes off it too).
    var capacity: Int { segment.size - start }

    /// Writes `count` bytes with `fill` (given the block's payload memory) into a new block and
    /// returns the payload's offset in the segment; nil when no block of that size is free now.
    func write(count: Int, fill: (UnsafeMutableRawPointer) -> Void) -> Int? {
        reclaim()
        let need = Self.blockHeaderBytes + (count + 63) / 64 * 64
        guard let offset = place(need) else { return nil }
        Self.flag(segment.base + offset).pointee.store(Self.held, ordering: .relaxed)
        (segment.base + offset).storeBytes(of: UInt64(count), toByteOffset: 8, as: UInt64.self)
        fill(segment.base + offset + Self.blockHeaderBytes)
        outstanding.append((offset, offset + need))
        head = offset + need
        return offset + Self.blockHeaderBytes
    }

    /// Gives back the block of a payload that never reached its consumer (the send failed).
    func cancel(payloadOffset: Int) {
        Self.flag(segment.base + payloadOffset - Self.blockHeaderBytes).pointee.store(Self.free, ordering: .releasing)
    }

    /// Blocks still held by the consumer.
    var blocksHeld: Int { reclaim(); return outstanding.count - firstOutstanding }

    /// Frees the oldest blocks the consumer has handed back (a block freed out of order waits
    /// until those before it are free too).
    private func reclaim() {
        while firstOutstanding < outstanding.count,
              Self.flag(segment.base + outstanding[firstOutstanding].offset).pointee.load(ordering: .acquiring) == Self.free {
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
    /// held lies beyond them; nil when neither fits.
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

    /// The atomic flag at the start of a block header.
    static func flag(_ block: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Atomic<UInt32>> {
        block.assumingMemoryBound(to: Atomic<UInt32>.self)
    }
}

/// The consumer's hold on one block of a peer's ring: a received `Payload` adopts the block's
/// bytes with this as owner, and when the last reference goes the block is handed back.
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

    deinit {
        SharedMemoryRing.flag(segment.base + payloadOffset - SharedMemoryRing.blockHeaderBytes).pointee
            .store(SharedMemoryRing.free, ordering: .releasing)
    }
}
