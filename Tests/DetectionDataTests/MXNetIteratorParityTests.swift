import Foundation
import Testing
@testable import DetectionData

private struct IteratorFixture: Decodable {
    var version: Int
    var image_shape: Int
    var label_width: Int
    var batch: Int
    var images: [Float]
    var labels: [Float]
}

@Suite("MXNet ImageDetRecordIter parity")
struct MXNetIteratorParityTests {
    @Test("deterministic mode equals MXNet's batch (pixels to OpenCV's 8-bit rounding, labels exactly)")
    func deterministicBatchMatchesMXNet() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: try TestFiles.fixture("mxnet_iter.json")))
        let want = try JSONDecoder().decode(IteratorFixture.self, from: data)
        try #require(want.version == 1, "fixture version \(want.version), expected 1 — rerun scripts/fixtures/make_recordio.py")
        let loader = try Loader(
            dataset: try openDetectionDataset(path: try TestFiles.fixture("mxnet_iter.rec")),
            batchSize: want.batch, imageShape: want.image_shape, labelWidth: want.label_width, augment: false, threads: 0)
        let batch = try #require(try loader.epoch(0).next())
        #expect(batch.images.count == want.images.count)
        let maxDiff = zip(batch.images, want.images).map { abs($0 - $1) }.max() ?? .infinity
        #expect(maxDiff <= 1.0, "max |ours − MXNet| = \(maxDiff)")
        #expect(batch.labels == want.labels)
    }
}
