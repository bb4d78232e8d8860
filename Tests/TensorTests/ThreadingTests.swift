import Foundation
import Tensor
import Testing

@Suite("Threading: loops and independent GEMMs over the threads")
struct ThreadingTests {
    @Test("forEachJob runs every job exactly once, on threads 0..<threads")
    func jobs() {
        var runs = [Int](repeating: 0, count: 37), threadOf = [Int](repeating: -1, count: 37)
        let lock = NSLock()
        Threading(threads: 3, gemmsOnOwnThreads: true).forEachJob(37) { job, thread in
            lock.lock(); runs[job] += 1; threadOf[job] = thread; lock.unlock()
        }
        #expect(runs.allSatisfy { $0 == 1 })
        #expect(threadOf.allSatisfy { (0..<3).contains($0) })
        // Without GEMMs on the kernels' own threads, jobs run one at a time on the caller's.
        var order: [Int] = []
        Threading(threads: 3).forEachJob(5) { job, thread in order.append(job); #expect(thread == 0) }
        #expect(order == [0, 1, 2, 3, 4])
    }

    @Test("forEachShare gives thread t the t-th contiguous share, the same split every time")
    func shares() {
        var seen: [Int: Range<Int>] = [:]
        let lock = NSLock()
        Threading(threads: 3, gemmsOnOwnThreads: true).forEachShare(10) { range, thread in lock.lock(); seen[thread] = range; lock.unlock() }
        #expect(seen == [0: 0..<3, 1: 3..<6, 2: 6..<10])
        var serial: [Range<Int>] = []
        Threading.serial.forEachShare(10) { range, _ in serial.append(range) }
        #expect(serial == [0..<10])
    }
}
