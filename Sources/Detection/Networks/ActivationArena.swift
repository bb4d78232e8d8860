import Foundation

/// One long-lived block of memory for the activation-sized buffers of a forward pass and its
/// backward (the nodes' outputs, the L2-normalized source, the activation gradients), each at an
/// offset planned from the buffers' lifetimes, so that a step's freed buffers never become holes
/// in the C heap.
///
/// Why: the heap keeps freed memory for reuse (`HeapPolicy`), and a step's buffers are freed in
/// an order the heap cannot foresee, so a freed block is often split by a smaller one and the
/// next large buffer goes to the top of the heap. Measured (SSD300-VGG16, batch 8): the heap
/// grew to 1211 MiB for 660 MiB of buffers live at once at most; at the end of backward conv2_1's
/// and conv1_1's gradients (88 + 176 MiB) went to the top with only 352–412 MiB live.
///
/// How: the first pass of a kind (its `Key`: batch size, training or not) maps each buffer on its
/// own (`mmap`, returned with `munmap` when freed: no heap, page faults for that one pass) and
/// records every allocation and release. From the record the arena plans each buffer's offset
/// (largest first, each at the lowest offset free over its whole lifetime), and every later pass
/// of that kind is served from the block. Every planned buffer is checked against those live
/// when it is handed out; one that would overlap, or a pass that asks for other sizes, is served
/// on its own map as in the first pass, and the pass is recorded again for a new plan. Where a
/// buffer lives never changes what a kernel computes: the results are the same bit for bit.
final class ActivationArena {
    /// The kind of pass a plan is for.
    struct Key: Hashable {
        var batch: Int
        var training: Bool
    }

    /// One buffer of a recorded pass: its size and when (in allocation and release events) it
    /// was live; `end` is `Int.max` for one still live when the pass ended.
    struct Lifetime: Equatable {
        var count: Int
        var start: Int
        var end: Int
    }

    /// A pass's planned offsets (in floats), one per allocation in order, and the block size
    /// they need.
    struct Plan: Equatable {
        var counts: [Int]
        var offsets: [Int]
        var extent: Int
    }

    /// Floats per page: planned offsets are page-aligned, as the own maps are.
    static let alignment = 1024

    /// Whether passes use the arena at all; false: every buffer is allocated on its own from
    /// the heap (as before the arena) — for comparisons.
    var enabled = true
    private(set) var plans: [Key: Plan] = [:]
    private var block: UnsafeMutablePointer<Float>?
    private(set) var capacity = 0
    /// How many buffers of the last pass that held the block were not in it (0: all as planned).
    private(set) var unplannedInLastPass = 0
    /// Whether a `Lease` holds the block now (a second pass meanwhile allocates on its own).
    private var leased = false

    deinit { unmap(block, capacity) }

    /// The buffers of one pass: the arena's block if no other pass holds it, else its own maps.
    func lease(_ key: Key) -> Lease {
        let holdsBlock = enabled && !leased
        if holdsBlock { leased = true }
        return Lease(arena: holdsBlock ? self : nil, key: key, plan: holdsBlock ? plans[key] : nil, block: block,
                     heapOnly: !enabled)
    }

    /// A lease that held the block ended: plan again from its record if it strayed from its plan.
    fileprivate func returned(key: Key, record: [Lifetime], strayed: Bool, unplanned: Int) {
        leased = false
        unplannedInLastPass = unplanned
        guard strayed, !record.isEmpty else { return }
        let plan = Self.plan(record)
        plans[key] = plan
        let needed = plans.values.map(\.extent).max() ?? 0
        if needed > capacity {
            unmap(block, capacity)
            block = map(needed, populate: true)
            capacity = block == nil ? 0 : needed
            if block == nil { plans = [:] }   // no memory for the block: every pass maps its own
        }
    }

    /// Offsets for `record`'s buffers: the largest first, each at the lowest offset where it
    /// overlaps no buffer already placed that is live at the same time (greedy by size).
    static func plan(_ record: [Lifetime]) -> Plan {
        var offsets = Array(repeating: 0, count: record.count)
        var placed: [Int] = []
        var extent = 0
        let order = record.indices.sorted { record[$0].count != record[$1].count ? record[$0].count > record[$1].count : $0 < $1 }
        for j in order {
            let r = record[j], size = rounded(r.count)
            let overlapping = placed.filter { record[$0].start < r.end && r.start < record[$0].end }
                .map { (offsets[$0], offsets[$0] + rounded(record[$0].count)) }.sorted { $0.0 < $1.0 }
            var offset = 0
            for (lo, hi) in overlapping {
                if offset + size <= lo { break }
                offset = max(offset, hi)
            }
            offsets[j] = offset
            placed.append(j)
            extent = max(extent, offset + size)
        }
        return Plan(counts: record.map(\.count), offsets: offsets, extent: extent)
    }

    static func rounded(_ count: Int) -> Int { (count + alignment - 1) / alignment * alignment }

    /// One pass's buffers (held by its `ForwardState`): planned ones in the arena's block, the
    /// others on their own maps; records every allocation and release for the next plan.
    final class Lease {
        private let arena: ActivationArena?
        private let key: Key
        private let plan: Plan?
        private let block: UnsafeMutablePointer<Float>?
        private let heapOnly: Bool
        private var record: [Lifetime] = []
        private var strayed = false
        private var clock = 0
        /// Live buffers: base address → (allocation index, in the block or on its own).
        private var live: [UnsafeMutablePointer<Float>: (index: Int, planned: Bool)] = [:]

        fileprivate init(arena: ActivationArena?, key: Key, plan: Plan?, block: UnsafeMutablePointer<Float>?, heapOnly: Bool) {
            self.arena = arena
            self.key = key
            self.plan = plan
            self.block = block
            self.heapOnly = heapOnly
        }

        deinit {
            for (base, entry) in live where !entry.planned { release(base, count: record[entry.index].count) }
            arena?.returned(key: key, record: record, strayed: strayed || plan == nil, unplanned: unplannedCount)
        }

        /// How many of this pass's buffers were not where its plan put them (for tests).
        private(set) var unplannedCount = 0

        /// A buffer of `count` floats (contents undefined). `own`: never in the block (a buffer
        /// that must not overlap any of this pass's, e.g. while a copy of the state still reads them).
        func allocate(_ count: Int, own: Bool = false) -> UnsafeMutableBufferPointer<Float> {
            guard count > 0 else { return UnsafeMutableBufferPointer(start: nil, count: 0) }
            let index = record.count
            record.append(Lifetime(count: count, start: clock, end: Int.max))
            clock += 1
            if !own, let plan, let block, index < plan.counts.count, plan.counts[index] == count {
                let start = plan.offsets[index], end = start + count
                let clear = live.allSatisfy { base, entry in
                    guard entry.planned else { return true }
                    let lo = base - block, hi = lo + record[entry.index].count
                    return end <= lo || hi <= start
                }
                if clear {
                    live[block + start] = (index, true)
                    return UnsafeMutableBufferPointer(start: block + start, count: count)
                }
            }
            if arena != nil && !own { strayed = true }
            unplannedCount += 1
            guard let base = heapOnly ? UnsafeMutablePointer<Float>.allocate(capacity: max(1, count)) : map(count) else {
                fatalError("out of memory: \(count * 4) bytes for an activation buffer")
            }
            live[base] = (index, false)
            return UnsafeMutableBufferPointer(start: base, count: count)
        }

        /// Releases a buffer `allocate` gave (nothing for an empty one).
        func free(_ buffer: UnsafeMutableBufferPointer<Float>) {
            guard let base = buffer.baseAddress, let entry = live.removeValue(forKey: base) else { return }
            record[entry.index].end = clock
            clock += 1
            if !entry.planned { release(base, count: buffer.count) }
        }

        private func release(_ base: UnsafeMutablePointer<Float>, count: Int) {
            if heapOnly { base.deallocate() } else { unmap(base, count) }
        }
    }
}

/// `count` floats of zero pages of their own (page-aligned, outside the heap); nil when the
/// system has none. `populate`: faulted in now (Linux), not by the pass that first writes them.
private func map(_ count: Int, populate: Bool = false) -> UnsafeMutablePointer<Float>? {
    guard count > 0 else { return nil }
    var flags = MAP_PRIVATE | MAP_ANONYMOUS
    #if os(Linux)
    if populate { flags |= MAP_POPULATE }
    #endif
    let raw = mmap(nil, count * 4, PROT_READ | PROT_WRITE, flags, -1, 0)
    guard let raw, raw != MAP_FAILED else { return nil }
    return raw.bindMemory(to: Float.self, capacity: count)
}

private func unmap(_ base: UnsafeMutablePointer<Float>?, _ count: Int) {
    if let base, count > 0 { munmap(base, count * 4) }
}
