// SSD training-step throughput: images/s and GFLOP/s of a full training step (forward,
// targets, loss, every gradient, and the SGD-momentum update of every trained weight, as the
// MXNet and GluonCV sides of the comparison run it) for SSD300/512 with the VGG16-reduced or
// ResNet-50 base, per batch size, with the process's peak resident memory; `--profile` adds the per-layer time table.
// Every ratio comes from one run: Benchmarks/compare/mxnet_ssd_step.py runs this and MXNet /
// GluonCV side by side on the same machine and prints the ratios.
import ArgumentParser
import Detection
import Foundation
import Optimizers
import SSDBenchmarkSupport
import Tensor

@main
struct TrainingBenchmarks: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "SSD training step images/sec.")

    @Option(help: "Batch sizes.") var batch: [Int] = [1, 4, 8]
    @OptionGroup var options: SSDBenchmarkOptions
    @Flag(inversion: .prefixedNo, help: "Keep freed activation buffers in the heap for the next step (as the worker does).")
    var keepHeap = true
    @Flag(inversion: .prefixedNo, help: "Plan the activation buffers in one long-lived block (the default); --no-activation-arena allocates each from the heap.")
    var activationArena = true
    @Option(help: "Smallest channel count for Winograd 3×3 convolutions; 0 = never (im2col only).") var winogradChannels = 64
    @Option(help: "Winograd layers give each thread a share of the images from this many threads (GEMMs on own threads, one image per thread); 0 = never. Default: the workspace's.")
    var winogradImagesThreads: Int?
    @Option(name: .customLong("tap-gemms-below"), help: "Convolutions (not Winograd) whose taps read the image on less than this fraction of their outputs run one GEMM per tap (fc6: 0.62); 0 = never (im2col). Default: the workspace's.")
    var tapGEMMsBelow: Double?
    @Flag(name: .customLong("alternate-tap-gemms"), help: "Time every step twice, im2col and by taps (--tap-gemms-below, else the workspace's) alternated, and print the ratio of each pair: old and new from the same run, for a shared machine.")
    var alternateTapGEMMs = false
    @Option(help: "Floats of each Winograd transformed-tile buffer (V and M) per chunk of tiles. Default: the workspace's.")
    var winogradChunkFloats: Int?
    @Option(help: "Time every step twice, Winograd chunks of the workspace's (or --winograd-chunk-floats) floats and of this many alternated, and print the ratio of each pair.")
    var alternateWinogradChunkFloats: Int?
    @Option(help: "Floats of each thread's own Winograd V and M where layers run by blocks of tiles; 0 = never. Default: the workspace's.")
    var winogradBlockFloats: Int?
    @Option(help: "Time every step twice, Winograd blocks of the workspace's (or --winograd-block-floats) floats and of this many (0: never) alternated, and print the ratio of each pair.")
    var alternateWinogradBlockFloats: Int?
    @Flag(help: "Print where the time of the timed steps went, per layer and phase.") var profile = false
    @Option(help: "Timed steps per batch size (after one warm-up step).") var steps = 2
    @Flag(inversion: .prefixedNo, help: "Update the weights after each step (SGD, momentum 0.9, lr 0.004, wd 5e-4, as mxnet_ssd_step.py's MXNet and GluonCV sides); --no-update times forward and backward alone.")
    var update = true
    @Flag(help: "Print what the peak resident memory holds: parameters, gradients, the activation buffers live at the peak.")
    var memory = false

    struct Row: Codable { var network: String; var batch: Int; var imagesPerSecond: Double; var gflopsPerSecond: Double; var peakRSSMiB: Double; var secondsPerStep: Double }

    func validate() throws {
        for (name, floats) in [("--winograd-chunk-floats", winogradChunkFloats), ("--alternate-winograd-chunk-floats", alternateWinogradChunkFloats)] {
            if let floats, floats < 1 { throw ValidationError("\(name) must be at least 1 (got \(floats))") }
        }
    }

    func run() throws {
        let (network, imageShape) = (options.network, options.imageShape)
        let model = try SSDBenchmark.model(options, smallestBatch: batch.min() ?? 1, keepFreedMemory: keepHeap)
        model.workspace.winogradMinimumChannels = winogradChannels > 0 ? winogradChannels : nil
        model.usesActivationArena = activationArena
        if let tapGEMMsBelow { model.workspace.tapGEMMsBelowValidFraction = tapGEMMsBelow > 0 ? tapGEMMsBelow : nil }
        if let winogradChunkFloats { model.workspace.winogradChunkFloats = winogradChunkFloats }
        if let winogradBlockFloats { model.workspace.winogradBlockFloats = winogradBlockFloats }   // 0: never
        if let winogradImagesThreads { model.workspace.winogradImagesInParallelMinimumThreads = winogradImagesThreads > 0 ? winogradImagesThreads : nil }
        print("SSD\(imageShape) \(network): \(model.parameters.count) parameters, \(model.anchorCount) anchors")
        // Forward multiply-adds of the convolutions (the training step is ≈ 3× forward).
        let gflopPerImage = 3 * 2 * Double(model.forwardMultiplyAdds) / 1e9
        print(String(format: "≈ %.1f GFLOP per image per training step", gflopPerImage))
        print("batch  s/step  images/s  GFLOP/s  peak RSS MiB")
        var rows: [Row] = []
        var rng = SeededGenerator(seed: 1)
        // The local update as the worker runs it (LocalUpdate): one optimizer state per trained array.
        let store = model.parameters, sgd = Optimizer(OptimizerConfig(kind: .sgd, learningRate: 0.004, momentum: 0.9, weightDecay: 5e-4))
        var states = update ? Dictionary(uniqueKeysWithValues: store.trainable.map { ($0, sgd.makeState(count: store.specs[$0].count)) }) : [:]
        func step(images: [Float], labels: [Float], batch b: Int) throws {
            _ = try model.trainingStep(images: images, labels: labels, batch: b)
            guard update else { return }
            let start = Date()
            for i in store.trainable {
                try sgd.update(weights: store.values.mutableView(i), gradient: store.gradients.view(i), state: &states[i]!,
                               multipliers: ParameterMultipliers(lrMult: store.specs[i].lrMult, wdMult: store.specs[i].wdMult),
                               threads: model.threading.threads)
            }
            model.profile?.record("sgd_update", .backward, seconds: Date().timeIntervalSince(start))
        }
        for b in batch {
            let images = SSDBenchmark.images(batch: b, imageShape: imageShape, rng: &rng)
            var labels = [Float](repeating: -1, count: b * 4 * 5)
            for n in 0..<b { labels.replaceSubrange((n * 20)..<(n * 20 + 5), with: [Float(n % 20), 0.2, 0.2, 0.6, 0.7]) }
            try step(images: images, labels: labels, batch: b)
            let workspace = model.workspace
            func alternate<Value>(_ setting: ReferenceWritableKeyPath<Conv2D.Workspace, Value>, old: (Value, String),
                                  new: (Value, String)) throws {
                try SSDBenchmark.alternate(steps: steps, setting, of: workspace, old: old, new: new) {
                    try step(images: images, labels: labels, batch: b)
                }
            }
            if alternateTapGEMMs {
                let byTaps = workspace.tapGEMMsBelowValidFraction
                try alternate(\.tapGEMMsBelowValidFraction, old: (nil, "im2col"),
                              new: (byTaps, "by taps below \(byTaps.map { String(format: "%.2f", $0) } ?? "never")"))
                continue
            }
            if let other = alternateWinogradChunkFloats {
                let floats = workspace.winogradChunkFloats
                try alternate(\.winogradChunkFloats, old: (floats, "chunks of \(floats) floats"), new: (other, "chunks of \(other) floats"))
                continue
            }
            if let other = alternateWinogradBlockFloats {
                let floats = workspace.winogradBlockFloats
                try alternate(\.winogradBlockFloats, old: (floats, SSDBenchmark.blocksLabel(floats)), new: (other, SSDBenchmark.blocksLabel(other)))
                continue
            }
            let layers = LayerProfile()
            if profile { model.profile = layers }
            let ledger = MemoryLedger()
            if memory { model.memory = ledger }
            let start = Date()
            for _ in 0..<steps { try step(images: images, labels: labels, batch: b) }
            let perStep = Date().timeIntervalSince(start) / Double(steps)
            model.profile = nil
            model.memory = nil
            let row = Row(network: network, batch: b, imagesPerSecond: Double(b) / perStep, gflopsPerSecond: gflopPerImage * Double(b) / perStep,
                          peakRSSMiB: SSDBenchmark.peakRSSMiB(), secondsPerStep: perStep)
            rows.append(row)
            print(String(format: "%5d %7.2f %9.2f %8.1f %13.0f", b, perStep, row.imagesPerSecond, row.gflopsPerSecond, row.peakRSSMiB))
            if profile {
                print("per-layer time over \(steps) step(s) at batch \(b) (layers: \(String(format: "%.2f", layers.total)) s of \(String(format: "%.2f", perStep * Double(steps))) s):")
                print(layers.report(top: 60))
            }
            if memory { print(model.memoryReport(ledger, peakResidentBytes: Int(row.peakRSSMiB * 1048576))) }
        }
        if let json = options.json { try SSDBenchmark.writeJSON(rows, to: json) }
    }
}
