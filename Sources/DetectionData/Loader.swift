import Foundation
import Tensor

/// One training batch, ready for the network.
public struct Batch: Sendable {
    /// N × 3 × S × S, RGB minus the mean, planar (NCHW).
    public var images: [Float]
    /// N × maxObjects × 5 rows `[class, xmin, ymin, xmax, ymax]`, padded with −1 rows.
    public var labels: [Float]
    public var count: Int
    public var maxObjects: Int
    /// Data-set indices of the samples, in order.
    public var indices: [Int]
    public var epoch: Int
    public var step: Int
}

/// Decodes, augments and resizes batches on background threads, ahead of the training step.
///
/// A producer thread builds the epoch's batches in order (each batch's samples decoded in
/// parallel over `threads`) into a queue of at most `prefetch` batches — memory stays bounded.
/// `next(timeout:)` waits with a deadline. A bad sample fails the epoch with an error naming
/// it, or — with `skipBadSamples` — is replaced by the next good sample and counted.
public final class Loader: @unchecked Sendable {
    public struct Options: Sendable {
        public var batchSize: Int
        public var imageShape: Int
        public var labelWidth: Int
        public var numClasses: Int?
        public var augmentation: Augmentation?
        public var threads: Int
        public var prefetch: Int
        public var skipBadSamples: Bool
        public var seed: UInt64

        public init(batchSize: Int, imageShape: Int, labelWidth: Int = 350, numClasses: Int? = nil,
                    augmentation: Augmentation? = nil, threads: Int = 2, prefetch: Int = 2, skipBadSamples: Bool = false,
                    seed: UInt64 = 233) {
            self.batchSize = batchSize; self.imageShape = imageShape; self.labelWidth = labelWidth; self.numClasses = numClasses
            self.augmentation = augmentation; self.threads = max(1, threads); self.prefetch = max(1, prefetch)
            self.skipBadSamples = skipBadSamples; self.seed = seed
        }
    }

    public let dataset: DetectionDataset
    public let sharding: Sharding
    public let options: Options
    /// Samples replaced because they could not be read, this epoch (with `skipBadSamples`).
    public private(set) var skipped: [String] = []

    private let condition = NSCondition()
    private var queue: [Result<Batch, Error>] = []
    private var producing: (epoch: Int, cancelled: Bool)?
    private var generation = 0

    public init(dataset: DetectionDataset, sharding: Sharding, options: Options) {
        self.dataset = dataset; self.sharding = sharding; self.options = options
    }

    deinit { stop() }

    /// Steps per epoch (the same on every worker).
    public var stepsPerEpoch: Int { sharding.stepsPerEpoch }

    /// Starts producing `epoch`'s batches in the background (cancels a previous epoch).
    public func start(epoch: Int) {
        stop()
        condition.lock()
        generation += 1
        let gen = generation
        queue = []
        skipped = []
        producing = (epoch, false)
        condition.unlock()
        let order = sharding.order(epoch: epoch)
        let thread = Thread { [weak self] in
            guard let self else { return }
            for step in 0..<self.stepsPerEpoch {
                self.condition.lock()
                while self.queue.count >= self.options.prefetch && self.generation == gen && !(self.producing?.cancelled ?? true) {
                    self.condition.wait()
                }
                let stopNow = self.generation != gen || (self.producing?.cancelled ?? true)
                self.condition.unlock()
                if stopNow { return }
                let result = Result { try self.makeBatch(epoch: epoch, step: step, order: order) }
                self.condition.lock()
                if self.generation == gen { self.queue.append(result) }
                self.condition.broadcast()
                self.condition.unlock()
                if case .failure = result { return }
            }
        }
        thread.name = "loader"
        thread.start()
    }

    /// The next batch of the current epoch, waiting at most `timeout` seconds.
    public func next(timeout: Double = 600) throws -> Batch {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while queue.isEmpty {
            guard producing != nil else { throw DataError.emptyDataset(path: "\(dataset.description) (no epoch started)") }
            if !condition.wait(until: deadline) {
                throw DataError.unreadable(path: dataset.description, reason: "no batch ready after \(Int(timeout)) s")
            }
        }
        let result = queue.removeFirst()
        condition.broadcast()
        return try result.get()
    }

    /// Stops the background producer.
    public func stop() {
        condition.lock()
        producing?.cancelled = true
        generation += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Builds one batch synchronously (used by the producer; also handy for tests).
    public func makeBatch(epoch: Int, step: Int, order: [Int]? = nil) throws -> Batch {
        let indices = sharding.batch(epoch: epoch, step: step, order: order)
        let s = options.imageShape, plane = 3 * s * s
        let maxObjects = DetectionLabel.capacity(labelWidth: options.labelWidth)
        var images = [Float](repeating: 0, count: indices.count * plane)
        var labels = [Float](repeating: -1, count: indices.count * maxObjects * 5)
        var errors = [Error?](repeating: nil, count: indices.count)
        var skippedHere = [String?](repeating: nil, count: indices.count)
        let lock = NSLock()
        images.withUnsafeMutableBufferPointer { imgs in
            labels.withUnsafeMutableBufferPointer { labs in
                let chunks = min(options.threads, indices.count)
                DispatchQueue.concurrentPerform(iterations: chunks) { c in
                    for k in (indices.count * c / chunks)..<(indices.count * (c + 1) / chunks) {
                        do {
                            let (rows, skippedName) = try self.prepare(index: indices[k], epoch: epoch,
                                                                       into: UnsafeMutableBufferPointer(rebasing: imgs[(k * plane)..<((k + 1) * plane)]))
                            for (j, v) in rows.enumerated() { labs[k * maxObjects * 5 + j] = v }
                            if let skippedName { lock.lock(); skippedHere[k] = skippedName; lock.unlock() }
                        } catch {
                            lock.lock(); errors[k] = error; lock.unlock()
                        }
                    }
                }
            }
        }
        if let error = errors.compactMap({ $0 }).first { throw error }
        condition.lock()
        skipped += skippedHere.compactMap { $0 }
        condition.unlock()
        return Batch(images: images, labels: labels, count: indices.count, maxObjects: maxObjects, indices: indices, epoch: epoch, step: step)
    }

    /// Decodes, augments, resizes and normalises sample `index` into `output`; returns its
    /// padded label rows and, when it had to be replaced, the bad sample's name.
    private func prepare(index: Int, epoch: Int, into output: UnsafeMutableBufferPointer<Float>) throws -> ([Float], String?) {
        var candidate = index
        var skippedName: String?
        for _ in 0..<min(dataset.count, 64) {
            do {
                var (image, label) = try dataset.sample(candidate, numClasses: options.numClasses)
                if let aug = options.augmentation {
                    var rng = SeededGenerator(seed: options.seed ^ UInt64(epoch) &* 0x2545_F491_4F6C_DD1D ^ UInt64(candidate) &* 0x9E37_79B9_7F4A_7C15)
                    (image, label) = aug.apply(image, label, using: &rng)
                }
                let rows = try label.paddedRows(labelWidth: options.labelWidth, path: dataset.description, record: dataset.name(candidate))
                ImageTransform.toNetworkInput(ImageTransform.resize(image, width: options.imageShape, height: options.imageShape), output: output)
                return (rows, skippedName)
            } catch {
                guard options.skipBadSamples else { throw error }
                skippedName = skippedName ?? "\(dataset.name(candidate)): \(error)"
                candidate = (candidate + 1) % dataset.count
            }
        }
        throw DataError.emptyDataset(path: "\(dataset.description) (no readable sample near \(dataset.name(index)))")
    }
}
