import Foundation
import Tensor

/// The prefetching data loader: decodes, augments and resizes on background threads and hands
/// out batches in step order.
///
/// ```
/// let loader = try Loader(dataset: try openDetectionDataset(path: "train.rec"), options: opts)
/// for e in 0..<epochs {
///     let it = loader.epoch(e)
///     while let batch = try it.next() { … }   // it.skipped lists skipped bad samples
/// }
/// ```
/// Memory is bounded: at most `prefetch` batches are built ahead of the consumer. Every wait has the
/// deadline `deadlineSeconds`; errors of a background thread are thrown by `next()`.
public final class Loader: @unchecked Sendable {
    /// The dataset.
    public let dataset: any DetectionDataset
    /// The options.
    public let options: LoaderOptions

    /// Creates a loader; an empty dataset is an error.
    public init(dataset: any DetectionDataset, options: LoaderOptions) throws {
        precondition(options.batchSize > 0 && options.imageShape > 0, "Loader: batchSize and imageShape must be positive")
        guard dataset.count > 0 else { throw DetectionDataError.emptyDataset(source: dataset.name) }
        self.dataset = dataset
        self.options = options
    }

    /// Creates a loader from the common settings; `shuffle` defaults to `augment` (train: both
    /// on; validation/equivalence checks: both off).
    public convenience init(
        dataset: any DetectionDataset, batchSize: Int, imageShape: Int, labelWidth: Int = 350,
        shard: Shard = .single, seed: UInt64 = 233, augment: Bool = true, shuffle: Bool? = nil,
        threads: Int = 2, skipBadSamples: Bool = false, numClasses: Int? = nil
    ) throws {
        var o = LoaderOptions(batchSize: batchSize, imageShape: imageShape)
        o.labelWidth = labelWidth; o.shard = shard; o.seed = seed; o.augment = augment
        o.shuffle = shuffle ?? augment; o.threads = threads; o.skipBadSamples = skipBadSamples; o.numClasses = numClasses
        try self.init(dataset: dataset, options: o)
    }

    /// Batches per epoch (the same on every worker).
    public var batchesPerEpoch: Int {
        EpochPlan.batchesPerEpoch(datasetCount: dataset.count, batchSize: options.batchSize, workers: options.shard.count, remainder: options.remainder)
    }

    /// The sample order of `epoch` for this shard.
    public func plan(epoch: Int) -> EpochPlan {
        EpochPlan(datasetCount: dataset.count, batchSize: options.batchSize, shard: options.shard, seed: options.seed,
                  epoch: epoch, shuffle: options.shuffle, remainder: options.remainder)
    }

    /// Starts iterating `epoch` at batch `first` (a resume mid-epoch: the batches are the ones an
    /// uninterrupted epoch hands out from there, as order and augmentation depend only on the
    /// seed, the epoch and the sample).
    public func epoch(_ epoch: Int, from first: Int = 0) -> EpochIterator {
        EpochIterator(loader: self, plan: plan(epoch: epoch), epoch: epoch, first: first)
    }

    /// Decodes and transforms one sample as the batch would; returns CHW image values and objects.
    public func prepare(index: Int, epoch: Int) throws -> (image: [Float], objects: [DetectionObject]) {
        let s = options.imageShape
        var image = [Float](repeating: 0, count: 3 * s * s)
        var rows = [Float](repeating: 0, count: 5 * options.maxObjects)
        var difficult = [Bool](repeating: false, count: options.maxObjects)
        let objs = try image.withUnsafeMutableBufferPointer { img in
            try rows.withUnsafeMutableBufferPointer { lab in
                try difficult.withUnsafeMutableBufferPointer { try render(index: index, epoch: epoch, image: img, labels: lab, difficult: $0) }
            }
        }
        return (image, objs)
    }

    @discardableResult
    func render(index: Int, epoch: Int, image: UnsafeMutableBufferPointer<Float>, labels: UnsafeMutableBufferPointer<Float>,
                difficult: UnsafeMutableBufferPointer<Bool>) throws -> [DetectionObject] {
        let sample = try dataset.sample(at: index)
        guard sample.labelLength <= options.labelWidth else {
            throw DetectionDataError.labelTooWide(source: dataset.name, record: sample.source, width: sample.labelLength, labelWidth: options.labelWidth)
        }
        try DetectionLabel.validate(sample.objects, numClasses: options.numClasses, source: dataset.name, record: sample.source)
        let decoded = try ImageCodec.decode(sample.imageBytes, source: sample.source)
        var plan = AugmentationPlan.identity(sample.objects)
        if options.augment {
            var rng = SeededGenerator(mixing: options.seed, UInt64(epoch), UInt64(index))
            plan = options.augmenter.plan(objects: sample.objects, rng: &rng)
        }
        let s = options.imageShape, plane = s * s
        Resize.render(decoded, window: plan.window, mirror: plan.mirror, size: s, into: image)
        ColorJitter.apply(plan.color, to: image, pixels: plane)
        let m = options.mean
        for i in 0..<plane { image[i] -= m.0; image[plane + i] -= m.1; image[2 * plane + i] -= m.2 }
        DetectionLabel.fillRows(plan.objects, maxObjects: options.maxObjects, into: labels, difficult: difficult)
        return plan.objects
    }

    /// Builds the batch of `step` (used by the background threads).
    func buildBatch(plan: EpochPlan, epoch: Int, step: Int) throws -> Batch {
        let (indices, pad) = plan.indices(step: step)
        let n = indices.count, s = options.imageShape, per = 3 * s * s, rows = 5 * options.maxObjects
        var images = [Float](repeating: 0, count: n * per)
        var labels = [Float](repeating: -1, count: n * rows)
        let m = options.maxObjects
        var difficult = [Bool](repeating: false, count: n * m)
        var bad: [(slot: Int, skipped: SkippedSample, error: Error)] = []
        images.withUnsafeMutableBufferPointer { img in
            labels.withUnsafeMutableBufferPointer { lab in
                difficult.withUnsafeMutableBufferPointer { dif in
                    for (slot, idx) in indices.enumerated() {
                        do {
                            try render(index: idx, epoch: epoch,
                                       image: UnsafeMutableBufferPointer(rebasing: img[(slot * per)..<((slot + 1) * per)]),
                                       labels: UnsafeMutableBufferPointer(rebasing: lab[(slot * rows)..<((slot + 1) * rows)]),
                                       difficult: UnsafeMutableBufferPointer(rebasing: dif[(slot * m)..<((slot + 1) * m)]))
                        } catch {
                            bad.append((slot, SkippedSample(index: idx, reason: "\(error)"), error))
                        }
                    }
                }
            }
        }
        if !bad.isEmpty {
            guard options.skipBadSamples else { throw bad[0].error }
            let badSlots = Set(bad.map(\.slot))
            guard let good = (0..<n).first(where: { !badSlots.contains($0) }) else {
                throw DetectionDataError.batchAllBad(step: step, firstReason: bad[0].skipped.reason)
            }
            for (slot, _, _) in bad {
                for i in 0..<per { images[slot * per + i] = images[good * per + i] }
                for i in 0..<rows { labels[slot * rows + i] = labels[good * rows + i] }
                for i in 0..<m { difficult[slot * m + i] = difficult[good * m + i] }
            }
        }
        return Batch(step: step, images: images, labels: labels, difficult: difficult, count: n, imageShape: s, maxObjects: options.maxObjects,
                     pad: pad, indices: indices, skipped: bad.map(\.skipped))
    }
}

