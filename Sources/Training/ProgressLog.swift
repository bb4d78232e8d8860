import Foundation
import Logging

/// Progress lines a SageMaker user recognises (`Epoch[e] Batch[b/n] … train:cross_entropy=…`,
/// `#quality_metric: … validation mAP`), and the same figures as JSON lines in
/// `<dir>/metrics.jsonl` (appended to, so a resumed run keeps the history).
public final class ProgressLog {
    let logger: Logger
    let metrics: AppendOnlyFile
    let started = Date()

    public init(directory: String, logger: Logger) throws {
        self.logger = logger
        let path = (directory as NSString).appendingPathComponent("metrics.jsonl")
        metrics = try AppendOnlyFile(path: path)
    }

    func write(_ object: [String: Any]) throws {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        try metrics.append(data + Data("\n".utf8))
    }

    func start(hyperparameters h: Hyperparameters, workers: Int, rank: Int, effectiveBatch: Int, parameters: Int, anchors: Int, blas: String) throws {
        logger.info("hyperparameters: \(h.asStrings.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        logger.info("worker \(rank) of \(workers); mini_batch_size \(h.miniBatchSize) per worker, effective batch \(effectiveBatch) (\(h.kvStore?.rawValue ?? "single machine")); \(parameters) parameters, \(anchors) anchors; \(blas)")
        try write(["event": "start", "rank": rank, "workers": workers, "effective_batch": effectiveBatch, "mini_batch_size": h.miniBatchSize])
    }

    /// A terminal gets a one-line progress bar redrawn in place; a pipe or file gets plain lines.
    let interactive = isatty(STDERR_FILENO) != 0

    func batch(epoch: Int, step: Int, of total: Int, crossEntropy: Double, smoothL1: Double, imagesPerSecond: Double, learningRate: Float, every: Int) throws {
        if interactive {
            let width = 30, filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "\rEpoch[%d] %@ %d/%d  %.2f img/s  cross_entropy %.4f  smooth_l1 %.4f", epoch, bar, step, total,
                              imagesPerSecond, crossEntropy, smoothL1)
            FileHandle.standardError.write(Data((line + (step == total ? "\n" : "")).utf8))
        } else if step % max(1, every) == 0 || step == total || step == 1 {
            logger.info("\(String(format: "Epoch[%d] Batch[%d/%d] Speed: %.2f samples/sec train:cross_entropy=%.4f train:smooth_l1=%.4f lr=%g", epoch, step, total, imagesPerSecond, crossEntropy, smoothL1, learningRate))")
        }
        try write(["epoch": epoch, "batch": step, "train:cross_entropy": crossEntropy, "train:smooth_l1": smoothL1,
               "images_per_sec": imagesPerSecond, "lr": learningRate, "time": Date().timeIntervalSince(started)])
    }

    func epoch(_ epoch: Int, crossEntropy: Double, smoothL1: Double, seconds: Double) throws {
        logger.info("\(String(format: "Epoch[%d] Train-cross_entropy=%.6f Train-smooth_l1=%.6f Time cost=%.1f", epoch, crossEntropy, smoothL1, seconds))")
        try write(["epoch": epoch, "event": "epoch_end", "train:cross_entropy": crossEntropy, "train:smooth_l1": smoothL1, "seconds": seconds])
        try metrics.sync()
    }

    func validation(_ epoch: Int, mAP: Double) throws {
        logger.info("\(String(format: "Epoch[%d] Validation-mAP=%.6f", epoch, mAP))")
        logger.info("\(String(format: "#quality_metric: host=algo-1, epoch=%d, validation mAP <score>=(%.6f)", epoch, mAP))")
        try write(["epoch": epoch, "validation:mAP": mAP])
    }
}
