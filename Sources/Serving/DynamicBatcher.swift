import Foundation

/// Dynamic batching: concurrent requests share one forward pass. Requests queue up; one
/// thread of its own (not the HTTP event loops, not Swift's cooperative pool, since a forward
/// pass blocks a core for tens of milliseconds) takes the oldest, waits until `maxBatch` have
/// arrived or `maxWait` has passed since the oldest arrived, whichever is first, runs `body`
/// on them all and answers each caller. Every wait has a deadline except the idle wait for
/// the first request, which `stop()` ends.
public final class DynamicBatcher<Input: Sendable, Output: Sendable>: @unchecked Sendable {
    /// Runs one batch; must return one output per input, in order.
    public typealias Body = @Sendable ([Input]) throws -> [Output]

    /// Why a request got no answer.
    public enum Failure: Error, CustomStringConvertible {
        case stopped
        case wrongOutputCount(inputs: Int, outputs: Int)

        public var description: String {
            switch self {
            case .stopped: return "the server is shutting down"
            case let .wrongOutputCount(i, o): return "a batch of \(i) gave \(o) results"
            }
        }
    }

    private struct Pending {
        var input: Input
        var arrived: ContinuousClock.Instant
        var answer: CheckedContinuation<Output, any Error>
    }

    public let maxBatch: Int
    public let maxWait: Duration
    private let body: Body
    private let onBatch: @Sendable (_ size: Int, _ seconds: Double) -> Void
    private let condition = NSCondition()
    private var queue: [Pending] = []
    private var stopped = false

    /// - Parameters:
    ///   - onBatch: called after every batch with its size and run time (for metrics).
    public init(maxBatch: Int, maxWait: Duration, onBatch: @escaping @Sendable (Int, Double) -> Void = { _, _ in },
                body: @escaping Body) {
        precondition(maxBatch >= 1, "maxBatch must be at least 1")
        self.maxBatch = maxBatch; self.maxWait = maxWait; self.body = body; self.onBatch = onBatch
        // The thread holds the batcher until `stop()` ends its loop. The batcher does not keep
        // the Thread: the Thread's block holds the batcher, so that would be a retain cycle
        // that kept the batcher, its predictor and model alive forever (LeakSanitizer).
        let thread = Thread { self.loop() }
        thread.name = "ssd-batcher"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// The output for `input`, computed in a batch with whatever else arrived meanwhile.
    public func submit(_ input: Input) async throws -> Output {
        try await withCheckedThrowingContinuation { answer in
            condition.lock()
            if stopped {
                condition.unlock()
                answer.resume(throwing: Failure.stopped)
                return
            }
            queue.append(Pending(input: input, arrived: .now, answer: answer))
            condition.signal()
            condition.unlock()
        }
    }

    /// Stops the thread; queued requests fail with `.stopped`.
    public func stop() {
        condition.lock()
        stopped = true
        let left = queue
        queue.removeAll()
        condition.broadcast()
        condition.unlock()
        for p in left { p.answer.resume(throwing: Failure.stopped) }
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if stopped { condition.unlock(); return }
            // Wait for more until the batch is full or the oldest has waited maxWait.
            let deadline = queue[0].arrived + maxWait
            while queue.count < maxBatch && !stopped {
                let left = ContinuousClock.now.duration(to: deadline)
                if left <= .zero { break }
                let seconds = Double(left.components.seconds) + Double(left.components.attoseconds) * 1e-18
                _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
            }
            if stopped { condition.unlock(); return }  // stop() has answered the queue
            let batch = Array(queue.prefix(maxBatch))
            queue.removeFirst(batch.count)
            condition.unlock()
            let start = ContinuousClock.now
            let result = Result { try body(batch.map(\.input)) }
            let took = ContinuousClock.now - start
            // Counted before anyone is answered, so a caller that reads the metrics next sees its batch.
            onBatch(batch.count, Double(took.components.seconds) + Double(took.components.attoseconds) * 1e-18)
            switch result {
            case let .success(outputs) where outputs.count == batch.count:
                for (p, o) in zip(batch, outputs) { p.answer.resume(returning: o) }
            case let .success(outputs):
                for p in batch { p.answer.resume(throwing: Failure.wrongOutputCount(inputs: batch.count, outputs: outputs.count)) }
            case let .failure(error):
                for p in batch { p.answer.resume(throwing: error) }
            }
        }
    }
}
