// SSD inference throughput: images/s of the path `ssd predict` and serving use — forward,
// softmax, box decoding and NMS (`SSDModel.detect`) — per batch size, with peak resident memory;
// `--profile` adds the per-layer time table (convolutions, pools, L2 normalization, heads,
// `cls_prob` softmax, `detection` decode + NMS).
// Benchmarks/compare/mxnet_ssd_step.py --inference runs this beside GluonCV's hybridized SSD.
import ArgumentParser
import Detection
import Foundation
import SSDBenchmarkSupport
import Tensor

@main
struct InferenceBenchmarks: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "SSD inference (forward + softmax + decode + NMS) images/sec.")

    @Option(help: "Batch sizes.") var batch: [Int] = [1, 8]
    @OptionGroup var options: SSDBenchmarkOptions
    @Option(help: "Timed batches per batch size (after one warm-up batch).") var steps = 3
    @Flag(help: "Print where the time of the timed batches went, per layer.") var profile = false
    @Flag(help: "Print what the peak resident memory holds: parameters, gradients, the activation buffers live at the peak.")
    var memory = false
    @Flag(inversion: .prefixedNo, help: "Keep each Winograd layer's transformed weights between batches (Conv2D.Workspace.keepsTransformedWeights).")
    var keepTransformedWeights = false
    @Option(help: "Floats of each thread's own Winograd V and M where layers run by blocks of tiles; 0 = never. Default: the workspace's.")
    var winogradBlockFloats: Int?
    @Option(help: "Time every batch twice, Winograd blocks of the workspace's (or --winograd-block-floats) floats and of this many (0: never) alternated, and print the ratio of each pair.")
    var alternateWinogradBlockFloats: Int?

    struct Row: Codable { var network: String; var imageShape: Int; var batch: Int; var imagesPerSecond: Double; var peakRSSMiB: Double; var secondsPerBatch: Double }

    func run() throws {
        let (network, imageShape) = (options.network, options.imageShape)
        let model = try SSDBenchmark.model(options, smallestBatch: batch.min() ?? 1, forwardOnly: true, keepFreedMemory: true)
        model.workspace.keepsTransformedWeights = keepTransformedWeights
        if let winogradBlockFloats { model.workspace.winogradBlockFloats = winogradBlockFloats }   // 0: never
        print("SSD\(imageShape) \(network) inference (forward, softmax, decode, NMS 0.45)")
        print("batch  s/batch  images/s  peak RSS MiB")
        var rows: [Row] = []
        var rng = SeededGenerator(seed: 1)
        for b in batch {
            let images = SSDBenchmark.images(batch: b, imageShape: imageShape, rng: &rng)
            _ = try model.detect(images: images, batch: b)
            if let other = alternateWinogradBlockFloats {
                let floats = model.workspace.winogradBlockFloats
                try SSDBenchmark.alternate(steps: steps, \.winogradBlockFloats, of: model.workspace,
                                           old: (floats, SSDBenchmark.blocksLabel(floats)), new: (other, SSDBenchmark.blocksLabel(other))) {
                    _ = try model.detect(images: images, batch: b)
                }
                continue
            }
            let layers = LayerProfile()
            if profile { model.profile = layers }
            let ledger = MemoryLedger()
            if memory { model.memory = ledger }
            let start = Date()
            for _ in 0..<steps { _ = try model.detect(images: images, batch: b) }
            let perBatch = Date().timeIntervalSince(start) / Double(steps)
            model.profile = nil
            let row = Row(network: network, imageShape: imageShape, batch: b, imagesPerSecond: Double(b) / perBatch,
                          peakRSSMiB: SSDBenchmark.peakRSSMiB(), secondsPerBatch: perBatch)
            rows.append(row)
            print(String(format: "%5d %8.3f %9.2f %13.0f", b, perBatch, row.imagesPerSecond, row.peakRSSMiB))
            if profile {
                print("per-layer time over \(steps) batch(es) of \(b) (layers: \(String(format: "%.3f", layers.total)) s of \(String(format: "%.3f", perBatch * Double(steps))) s):")
                print(layers.report(top: 80))
            }
            model.memory = nil
            if memory { print(model.memoryReport(ledger, peakResidentBytes: Int(row.peakRSSMiB * 1048576))) }
        }
        if let json = options.json { try SSDBenchmark.writeJSON(rows, to: json) }
    }
}
