// Data-loader throughput: decode JPEG + augment + resize + normalise, images/sec at 300 and
// 512 with 1 and 2 threads, beside the decode-only rate measured in the same run.
import ArgumentParser
import DetectionData
import Foundation

@main
struct LoaderBenchmarks: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Loader images/sec (decode + augment + resize).")

    @Option(help: "Images in the generated data set.") var images = 96
    @Option(help: "Source image size in pixels (square).") var sourceSize = 500
    @Option(help: "Batch size.") var batch = 16
    @Option(help: "Write the results as JSON to this path.") var json: String?

    struct Row: Codable { var imageShape: Int; var threads: Int; var augment: Bool; var imagesPerSecond: Double }

    func run() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loader-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let synth = SyntheticDataset(classes: 8, imageSize: sourceSize, maxObjects: 5, seed: 1)
        try DatasetExport.write(split: "train", count: images, to: dir.path, formats: .recordIO, categories: synth.classNames) {
            synth.sample($0, split: "train")
        }
        let dataset = try DetectionDataset(.recordIO(rec: dir.appendingPathComponent("train.rec").path, idx: dir.appendingPathComponent("train.idx").path))
        print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(images) JPEGs of \(sourceSize)x\(sourceSize), batch \(batch)")
        let start = Date()
        for i in 0..<dataset.count { _ = try dataset.sample(i) }
        let decodeRate = Double(dataset.count) / Date().timeIntervalSince(start)
        print(String(format: "decode only, 1 thread: %.1f images/s (reference for the rows below)", decodeRate))
        print("shape threads augment  images/s  ratio to decode-only")
        var rows: [Row] = []
        for shape in [300, 512] {
            for threads in [1, 2] {
                for augment in [false, true] {
                    let sharding = Sharding(samples: dataset.count, rank: 0, count: 1, batchSize: batch, shuffle: true, seed: 1)
                    let loader = Loader(dataset: dataset, sharding: sharding,
                                        options: .init(batchSize: batch, imageShape: shape, labelWidth: 350,
                                                       augmentation: augment ? Augmentation() : nil, threads: threads, prefetch: 2))
                    let t0 = Date()
                    loader.start(epoch: 0)
                    for _ in 0..<loader.stepsPerEpoch { _ = try loader.next(timeout: 600) }
                    let rate = Double(loader.stepsPerEpoch * batch) / Date().timeIntervalSince(t0)
                    loader.stop()
                    rows.append(Row(imageShape: shape, threads: threads, augment: augment, imagesPerSecond: rate))
                    print(String(format: "%5d %7d %7@ %9.1f %8.2f", shape, threads, augment ? "yes" : "no", rate, rate / decodeRate))
                }
            }
        }
        print("the SSD300-VGG16 training step runs at about 2 images/s on this machine (MXNet: 1.9–2.0)")
        if let json {
            let e = JSONEncoder(); e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try e.encode(rows).write(to: URL(fileURLWithPath: json))
        }
    }
}
