import Foundation

/// Hands out one epoch's batches in step order; background threads build them ahead.
///
/// Bounded: a thread does not start step t until t < consumed + prefetch. Every wait of
/// `next()` has the loader's deadline. The first error of any batch is thrown by `next()` for
/// that step, after which the epoch is over. Dropping the iterator stops its threads.
public final class EpochIterator: @unchecked Sendable {
    /// The epoch number.
    public let epoch: Int
    /// Batches in this epoch.
    public let batchesPerEpoch: Int
    /// Bad samples skipped so far in this epoch (with skipBadSamples), to report at its end.
    public private(set) var skipped: [SkippedSample] = []

    private let state: State
    private var nextStep = 0

    final class State: @unchecked Sendable {
        let condition = NSCondition()
        var ready: [Int: Result<Batch, Error>] = [:]
        var claimed = 0          // next step a thread will build
        var consumed = 0         // steps handed to the consumer
        var stopped = false
        var running = 0
    }

    init(loader: Loader, plan: EpochPlan, epoch: Int, first: Int = 0) {
        self.epoch = epoch
        batchesPerEpoch = plan.batchesPerEpoch
        state = State()
        nextStep = min(max(first, 0), batchesPerEpoch)
        state.claimed = nextStep
        state.consumed = nextStep
        loaderDeadline = loader.options.deadlineSeconds
        let threads = loader.options.threads
        guard threads > 0 else {
            syncBuild = { step in try loader.buildBatch(plan: plan, epoch: epoch, step: step) }
            return
        }
        syncBuild = nil
        let state = self.state, total = plan.batchesPerEpoch, window = max(1, loader.options.prefetch)
        state.running = threads
        for _ in 0..<threads {
            let t = Thread {
                while true {
                    state.condition.lock()
                    while !state.stopped && state.claimed < total && state.claimed >= state.consumed + window {
                        state.condition.wait()
                    }
                    if state.stopped || state.claimed >= total {
                        state.running -= 1
                        state.condition.broadcast()
                        state.condition.unlock()
                        return
                    }
                    let step = state.claimed
                    state.claimed += 1
                    state.condition.unlock()
                    let result = Result { try loader.buildBatch(plan: plan, epoch: epoch, step: step) }
                    state.condition.lock()
                    state.ready[step] = result
                    state.condition.broadcast()
                    state.condition.unlock()
                }
            }
            t.name = "loader-e\(epoch)"
            t.start()
        }
    }

    private let syncBuild: ((Int) throws -> Batch)?

    deinit { stop() }

    /// Stops the background threads (they finish the batch in hand, then exit).
    public func stop() {
        state.condition.lock()
        state.stopped = true
        state.ready.removeAll()
        state.condition.broadcast()
        state.condition.unlock()
    }

    /// The next batch, nil at the end of the epoch; throws the batch's error or a timeout.
    public func next() throws -> Batch? {
        guard nextStep < batchesPerEpoch else { return nil }
        let step = nextStep
        let result: Result<Batch, Error>
        if let syncBuild {
            result = Result { try syncBuild(step) }
        } else {
            let deadline = Date(timeIntervalSinceNow: loaderDeadline)
            state.condition.lock()
            while state.ready[step] == nil && !state.stopped {
                if !state.condition.wait(until: deadline) && state.ready[step] == nil {
                    state.condition.unlock()
                    stop()
                    throw DetectionDataError.timeout(what: "loader batch \(step) of epoch \(epoch)", seconds: loaderDeadline)
                }
            }
            guard let r = state.ready.removeValue(forKey: step) else {
                state.condition.unlock()
                return nil
            }
            state.consumed = step + 1
            state.condition.broadcast()
            state.condition.unlock()
            result = r
        }
        nextStep += 1
        switch result {
        case .success(let batch):
            skipped += batch.skipped
            return batch
        case .failure(let error):
            nextStep = batchesPerEpoch
            stop()
            throw error
        }
    }

    /// A one-line end-of-epoch report of skipped samples ("" when none).
    public var skippedSummary: String {
        guard !skipped.isEmpty else { return "" }
        return "epoch \(epoch): skipped \(skipped.count) bad sample(s); first: index \(skipped[0].index): \(skipped[0].reason)"
    }

    private let loaderDeadline: Double
}
