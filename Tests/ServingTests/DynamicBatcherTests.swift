import Foundation
import Serving
import Testing

@Suite("Dynamic batching")
struct DynamicBatcherTests {
    /// Records the batches a body saw.
    final class Seen: @unchecked Sendable {
        private let lock = NSLock()
        private var batches: [[Int]] = []
        func add(_ b: [Int]) { lock.lock(); batches.append(b); lock.unlock() }
        var all: [[Int]] { lock.lock(); defer { lock.unlock() }; return batches }
    }

    @Test("concurrent requests share one forward pass as soon as the batch is full, each gets its own answer")
    func fullBatch() async throws {
        let seen = Seen()
        // A wait far longer than the test: only a full batch can end it.
        let batcher = DynamicBatcher<Int, Int>(maxBatch: 4, maxWait: .seconds(60)) { inputs in
            seen.add(inputs)
            return inputs.map { $0 * 10 }
        }
        defer { batcher.stop() }
        let answers = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for i in 1...4 { group.addTask { (i, try await batcher.submit(i)) } }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(answers == [1: 10, 2: 20, 3: 30, 4: 40])
        #expect(seen.all.count == 1 && seen.all.first?.sorted() == [1, 2, 3, 4])
    }

    @Test("a lone request runs once the wait is over; more than a batch is split")
    func waitAndSplit() async throws {
        let seen = Seen()
        let batcher = DynamicBatcher<Int, Int>(maxBatch: 2, maxWait: .milliseconds(20)) { inputs in
            seen.add(inputs)
            return inputs
        }
        defer { batcher.stop() }
        #expect(try await batcher.submit(7) == 7)
        #expect(seen.all == [[7]])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<5 { group.addTask { let answer = try await batcher.submit(i); #expect(answer == i) } }
            try await group.waitForAll()
        }
        #expect(seen.all.dropFirst().allSatisfy { $0.count <= 2 })
        #expect(seen.all.dropFirst().map(\.count).reduce(0, +) == 5)
    }

    @Test("a failing batch fails each of its requests; after stop() requests fail at once")
    func failures() async throws {
        struct Broken: Error {}
        let batcher = DynamicBatcher<Int, Int>(maxBatch: 2, maxWait: .milliseconds(1)) { _ in throw Broken() }
        await #expect(throws: Broken.self) { try await batcher.submit(1) }
        batcher.stop()
        await #expect(throws: DynamicBatcher<Int, Int>.Failure.self) { try await batcher.submit(2) }
    }
}
