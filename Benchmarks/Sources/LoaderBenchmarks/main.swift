// Loader throughput: images/sec of decode + augment + resize + mean subtraction through the
// prefetching Loader, at image_shape 300 and 512, with 1 and 2 background threads, on a
// synthetic RecordIO set of 480×480 JPEGs (about VOC-sized). Prints a table; with
// `--json PATH` also writes the figures as JSON.
//   cd Benchmarks && swift run -c release LoaderBenchmarks [--images N] [--json results/loader.json]
import DetectionData
import Foundation

var imageCount = 192
var jsonPath: String? = nil
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    switch a {
    case "--images": imageCount = Int(args.next() ?? "") ?? imageCount
    case "--json": jsonPath = args.next()
    default: print("usage: LoaderBenchmarks [--images N] [--json PATH]"); exit(2)
    }
}

let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loader-bench-\(getpid())").path
defer { try? FileManager.default.removeItem(atPath: dir) }
do {
    try SyntheticDataset(numClasses: 6, imageSize: 480, seed: 1)
        .write(to: dir, trainCount: imageCount, validationCount: 0, formats: .recordIO, quality: 90)
} catch { print("cannot write the synthetic dataset: \(error)"); exit(1) }

// Decode alone (one thread), to show how much of the loader's time is JPEG decoding.
do {
    let ds = try RecordIODataset(recordPath: dir + "/train.rec", indexPath: dir + "/train.idx")
    let samples = try (0..<ds.count).map { try ds.sample(at: $0).imageBytes }
    let start = Date()
    for bytes in samples { _ = try ImageCodec.decode(bytes, source: "bench") }
    print(String(format: "decode only (480×480 JPEG, 1 thread): %.1f images/s", Double(samples.count) / Date().timeIntervalSince(start)))
} catch { print("decode benchmark failed: \(error)"); exit(1) }

struct Row: Codable { var imageShape: Int; var threads: Int; var augment: Bool; var imagesPerSecond: Double }
var rows: [Row] = []
print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores; \(imageCount) JPEGs 480×480 in RecordIO")
print("shape  threads  augment  images/s")
for shape in [300, 512] {
    for threads in [1, 2] {
        for augment in [true, false] {
            var o = LoaderOptions(batchSize: 16, imageShape: shape)
            o.threads = threads; o.augment = augment; o.prefetch = 4
            do {
                let loader = try Loader(dataset: try RecordIODataset(recordPath: dir + "/train.rec", indexPath: dir + "/train.idx"), options: o)
                _ = try loader.epoch(99).next()  // warm-up (page cache, allocators)
                let start = Date()
                var images = 0
                for e in 0..<2 {
                    let it = loader.epoch(e)
                    while let b = try it.next() { images += b.count }
                }
                let rate = Double(images) / Date().timeIntervalSince(start)
                rows.append(Row(imageShape: shape, threads: threads, augment: augment, imagesPerSecond: rate))
                print(String(format: "%5d  %7d  %7@  %8.1f", shape, threads, augment ? "yes" : "no", rate))
            } catch { print("loader failed: \(error)"); exit(1) }
        }
    }
}
if let jsonPath {
    let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    if let data = try? enc.encode(rows), FileManager.default.createFile(atPath: jsonPath, contents: data) {
        print("wrote \(jsonPath)")
    } else { print("cannot write \(jsonPath)"); exit(1) }
}
