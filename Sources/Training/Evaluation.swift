import Detection
import DetectionData

/// Detection quality of a model on a labelled data set.
public enum Evaluation {
    /// VOC07 11-point mAP (or area with `.area`) of `model` on every sample of `dataset`,
    /// matching at IoU > `overlapThreshold` after NMS at `nmsThreshold` (the SSD example's rules).
    public static func meanAveragePrecision(
        model: SSDModel, dataset: any DetectionDataset, batchSize: Int = 8, labelWidth: Int = 350,
        overlapThreshold: Float = 0.5, nmsThreshold: Float = 0.45, interpolation: VOCMeanAveragePrecision.Interpolation = .elevenPoint,
        threads: Int = 2
    ) throws -> Double {
        try averagePrecision(model: model, dataset: dataset, batchSize: batchSize, labelWidth: labelWidth, overlapThreshold: overlapThreshold,
                             nmsThreshold: nmsThreshold, interpolation: interpolation, threads: threads).meanAveragePrecision()
    }

    /// The metric after every sample of `dataset`: per-class APs and their mean, by `rules`.
    public static func averagePrecision(
        model: SSDModel, dataset: any DetectionDataset, batchSize: Int = 8, labelWidth: Int = 350,
        overlapThreshold: Float = 0.5, nmsThreshold: Float = 0.45, interpolation: VOCMeanAveragePrecision.Interpolation = .elevenPoint,
        rules: VOCMeanAveragePrecision.Rules = .mxnetExample, threads: Int = 2
    ) throws -> VOCMeanAveragePrecision {
        let loader = try Loader(dataset: dataset, batchSize: batchSize, imageShape: model.config.imageShape,
                                labelWidth: labelWidth, augment: false, shuffle: false, threads: threads)
        var metric = VOCMeanAveragePrecision(classes: model.config.numClasses, overlapThreshold: overlapThreshold, interpolation: interpolation,
                                             rules: rules)
        let it = loader.epoch(0)
        var seen = Set<Int>()
        while let batch = try it.next() {
            let out = try model.detect(images: batch.images, batch: batch.count, nmsThreshold: nmsThreshold)
            for n in 0..<(batch.count - batch.pad) where !seen.contains(batch.indices[n]) {
                seen.insert(batch.indices[n])
                metric.update(detections: MultiBoxDetection.detections(out, image: n, anchors: model.anchorCount), groundTruth: groundTruth(of: batch, image: n))
            }
        }
        return metric
    }

    /// The ground truth of image `n` of `batch` as the VOC metric takes it: its label rows up to
    /// the first −1, each with its `difficult` flag.
    public static func groundTruth(of batch: Batch, image n: Int) -> [VOCMeanAveragePrecision.GroundTruth] {
        var gts: [VOCMeanAveragePrecision.GroundTruth] = []
        for m in 0..<batch.maxObjects {
            let o = (n * batch.maxObjects + m) * 5
            if batch.labels[o] < 0 { break }
            gts.append(.init(classId: Int(batch.labels[o]), box: Array(batch.labels[(o + 1)..<(o + 5)]),
                             difficult: batch.difficult[n * batch.maxObjects + m]))
        }
        return gts
    }
}
