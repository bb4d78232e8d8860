/// Settings of a `Loader`; defaults follow the MXNet SSD example / SageMaker OD.
public struct LoaderOptions: Sendable {
    /// Images per batch on this worker (mini_batch_size).
    public var batchSize: Int
    /// Output side S (images are stretched to S×S).
    public var imageShape: Int
    /// label_width: the longest raw label allowed; batch rows hold (labelWidth − 2) / 5 objects.
    public var labelWidth: Int = 350
    /// This worker's shard.
    public var shard: Shard = .single
    /// Seed of shuffling and augmentation.
    public var seed: UInt64 = 233
    /// Shuffle per epoch (train: true, validation: false).
    public var shuffle = true
    /// Apply training augmentation; false is the deterministic mode (tests, validation, equivalence).
    public var augment = true
    /// The augmentation pipeline used when `augment`.
    public var augmenter = Augmenter()
    /// Background decoding threads; 0 decodes on the caller's thread.
    public var threads = 2
    /// Batches built ahead of the consumer; at most this many exist besides the one in use.
    public var prefetch = 4
    /// Replace bad samples by a good one of the same batch and count them, instead of failing.
    public var skipBadSamples = false
    /// When set, class ids must lie in 0..<numClasses.
    public var numClasses: Int? = nil
    /// What happens to the tail of an epoch.
    public var remainder: RemainderPolicy = .pad
    /// Per-channel mean subtracted from RGB values in 0...255 (no std division).
    public var mean: (Float, Float, Float) = (123, 117, 104)
    /// Longest wait for one batch, in seconds.
    public var deadlineSeconds: Double = 120

    /// Creates options with the required sizes.
    public init(batchSize: Int, imageShape: Int) {
        self.batchSize = batchSize; self.imageShape = imageShape
    }

    /// Objects per batch row.
    public var maxObjects: Int { DetectionLabel.maxObjects(labelWidth: labelWidth) }
}

/// One batch for one training step.
///
/// `images`: `count × 3 × S × S` Float32, NCHW, RGB in 0...255 minus the mean (123, 117, 104).
/// `labels`: `count × maxObjects × 5` rows [cls, xmin, ymin, xmax, ymax] (normalized corners),
/// objects first, then rows of −1 (MultiBoxTarget stops at the first −1 class).
public struct Batch: Sendable {
    /// The step within the epoch.
    public var step: Int
    /// Images, NCHW.
    public var images: [Float]
    /// Labels, N × maxObjects × 5.
    public var labels: [Float]
    /// VOC's `difficult` flag of each label row, N × maxObjects (false for padding rows); the
    /// VOC mAP ignores detections of difficult boxes and does not count them as positives.
    public var difficult: [Bool]
    /// Samples in the batch (= batch size).
    public var count: Int
    /// Side S of the images.
    public var imageShape: Int
    /// Rows per sample in `labels`.
    public var maxObjects: Int
    /// Trailing samples that are wrap-around padding (the last batch of an epoch).
    public var pad: Int
    /// Dataset index of each sample.
    public var indices: [Int]
    /// Bad samples replaced in this batch (only with skipBadSamples).
    public var skipped: [SkippedSample]
}

/// A sample skipped because it was bad, with the reason.
public struct SkippedSample: Equatable, Sendable {
    /// Dataset index.
    public var index: Int
    /// The error message.
    public var reason: String
}
