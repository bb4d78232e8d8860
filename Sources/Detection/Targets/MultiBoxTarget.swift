import Foundation
import Tensor

/// MXNet's `contrib.MultiBoxTarget`: which anchors learn which ground truth.
///
/// Per image: the valid ground truths are the label rows before the first class −1. Matching
/// is greedy bipartite first (repeatedly the largest IoU among unmatched anchors and unmatched
/// ground truths, while > 1e-6), then every other anchor whose best IoU is > `overlapThreshold`.
/// Hard negative mining keeps ⌊positives × ratio⌋ negatives among anchors whose best IoU is
/// below `negativeMiningThreshold`, those with the lowest background probability first; all
/// other anchors are ignored (class −1). An image without ground truth is entirely ignored.
public struct MultiBoxTarget: Sendable {
    public var overlapThreshold: Float = 0.5
    public var negativeMiningRatio: Float = 3
    public var negativeMiningThreshold: Float = 0.5
    /// The label that marks an ignored anchor (and ends the ground-truth rows).
    public var ignoreLabel: Float = -1

    /// The SSD example's settings.
    public init() {}

    /// Targets for a batch.
    public struct Output: Sendable {
        /// B × A·4 encoded box offsets (0 where not positive).
        public var locTarget: [Float]
        /// B × A·4: 1 for the 4 coordinates of positive anchors.
        public var locMask: [Float]
        /// B × A: class + 1 for positives, 0 for mined negatives, −1 ignored.
        public var clsTarget: [Float]
        /// Positive anchors per image.
        public var positives: [Int]
    }

    /// - Parameters:
    ///   - anchors: A × 4 corners.
    ///   - labels: B × M × width rows `[class, xmin, ymin, xmax, ymax, …]`, −1 rows after the objects.
    ///   - classPredictions: B × (C+1) × A logits (for hard negative mining).
    ///   - threading: the images are split over its threads in contiguous shares; each image's
    ///     targets are computed by one thread exactly as with one, so any thread count gives the
    ///     same result.
    public func compute(anchors: [Float], labels: [Float], labelWidth: Int = 5, batch: Int,
                        classPredictions: [Float], classes: Int, threading: Threading = .serial) -> Output {
        let a = anchors.count / 4
        var out = Output(locTarget: [Float](repeating: 0, count: batch * a * 4), locMask: [Float](repeating: 0, count: batch * a * 4),
                         clsTarget: [Float](repeating: ignoreLabel, count: batch * a), positives: [Int](repeating: 0, count: batch))
        anchors.withUnsafeBufferPointer { anc in labels.withUnsafeBufferPointer { lab in classPredictions.withUnsafeBufferPointer { pred in
            out.locTarget.withUnsafeMutableBufferPointer { locTarget in out.locMask.withUnsafeMutableBufferPointer { locMask in
                out.clsTarget.withUnsafeMutableBufferPointer { clsTarget in out.positives.withUnsafeMutableBufferPointer { positives in
                    let slices = ImageTargets(anchors: anc, classes: classes, labelWidth: labelWidth,
                                              locTarget: locTarget, locMask: locMask, clsTarget: clsTarget, positives: positives)
                    threading.forEachChunk(batch) { images in
                        for n in images { imageTargets(n, slices, labels: lab, batch: batch, classPredictions: pred) }
                    }
                } }
            } }
        } } }
        return out
    }

    /// The inputs and outputs every image's targets read and write (each image its own slices).
    private struct ImageTargets {
        var anchors: UnsafeBufferPointer<Float>
        var classes, labelWidth: Int
        var locTarget, locMask, clsTarget: UnsafeMutableBufferPointer<Float>
        var positives: UnsafeMutableBufferPointer<Int>
    }

    /// Image `n`'s targets: matching, hard negative mining and encoding, into its slices of `t`.
    private func imageTargets(_ n: Int, _ t: ImageTargets, labels: UnsafeBufferPointer<Float>, batch: Int,
                              classPredictions: UnsafeBufferPointer<Float>) {
        let a = t.anchors.count / 4, labelWidth = t.labelWidth, classes = t.classes
        let rows = labels.count / max(1, batch * labelWidth)
        guard let anc = t.anchors.baseAddress else { return }   // no anchors: nothing to match
        var gts: [[Float]] = []
        for m in 0..<rows {
            let row = Array(labels[((n * rows + m) * labelWidth)..<((n * rows + m) * labelWidth + 5)])
            if row[0] == ignoreLabel { break }
            gts.append(row)
        }
        guard !gts.isEmpty else { return }
        // IoU matrix, anchors × ground truths.
        var overlaps = [Float](repeating: 0, count: a * gts.count)
        for (j, g) in gts.enumerated() {
            let box = Array(g[1..<5])
            box.withUnsafeBufferPointer { b in
                for i in 0..<a { overlaps[i * gts.count + j] = BoxCoder.iou(anc + 4 * i, b.baseAddress!) }
            }
        }
        var match = [Int](repeating: -1, count: a)  // ground truth of each positive anchor
        var gtMatched = [Bool](repeating: false, count: gts.count)
        // Bipartite stage.
        while gtMatched.contains(false) {
            var best: Float = 1e-6, bi = -1, bj = -1
            for i in 0..<a where match[i] < 0 {
                for j in 0..<gts.count where !gtMatched[j] && overlaps[i * gts.count + j] > best {
                    best = overlaps[i * gts.count + j]; bi = i; bj = j
                }
            }
            if bi < 0 { break }
            match[bi] = bj; gtMatched[bj] = true
        }
        // Threshold stage and each anchor's best IoU.
        var bestOverlap = [Float](repeating: 0, count: a)
        for i in 0..<a {
            var best: Float = -1, bj = -1
            for j in 0..<gts.count where overlaps[i * gts.count + j] > best { best = overlaps[i * gts.count + j]; bj = j }
            bestOverlap[i] = best
            if match[i] < 0, overlapThreshold > 0, best > overlapThreshold { match[i] = bj }
        }
        let positives = match.filter { $0 >= 0 }.count
        t.positives[n] = positives
        // Hard negative mining.
        if negativeMiningRatio > 0 {
            let wanted = min(Int(Float(positives) * negativeMiningRatio), a - positives)
            if wanted > 0 {
                var candidates: [(prob: Float, index: Int)] = []
                let base = n * (classes + 1) * a
                for i in 0..<a where match[i] < 0 && bestOverlap[i] < negativeMiningThreshold {
                    var mx = -Float.infinity
                    for k in 0...classes { mx = max(mx, classPredictions[base + k * a + i]) }
                    var sum: Float = 0
                    for k in 0...classes { sum += exp(classPredictions[base + k * a + i] - mx) }
                    candidates.append((exp(classPredictions[base + i] - mx) / sum, i))
                }
                // Stable ascending sort by background probability: most confident mistakes first.
                let sorted = candidates.enumerated().sorted { ($0.element.prob, $0.offset) < ($1.element.prob, $1.offset) }
                for c in sorted.prefix(wanted) { t.clsTarget[n * a + c.element.index] = 0 }
            }
        } else {
            for i in 0..<a where match[i] < 0 { t.clsTarget[n * a + i] = 0 }
        }
        // Positives: class + 1 and encoded offsets.
        for i in 0..<a where match[i] >= 0 {
            let g = gts[match[i]]
            t.clsTarget[n * a + i] = g[0] + 1
            let box = Array(g[1..<5])
            box.withUnsafeBufferPointer { b in
                BoxCoder.encode(box: b.baseAddress!, anchor: anc + 4 * i, into: t.locTarget.baseAddress! + (n * a + i) * 4)
            }
            for k in 0..<4 { t.locMask[(n * a + i) * 4 + k] = 1 }
        }
    }
}
