import Detection
import Foundation
import Tensor
import TestSupport
import Testing

/// The inference path (`deployForward`: forward, softmax, decode, NMS) run on the threads
/// gives what it gives serially.
@Suite("inference path threading")
struct InferencePathTests {
    @Test("MultiBoxDetection with the images on threads equals the serial run")
    func detectionOverImages() throws {
        let f = try detectionFixture("multibox.bin")
        let anchors = try f.values("detection/anchors"), prob = try f.values("detection/clsProb"), loc = try f.values("detection/loc")
        let detection = MultiBoxDetection(nmsThreshold: 0.45)
        let serial = detection.compute(probabilities: prob, offsets: loc, anchors: anchors, batch: 2, classes: 3)
        let threaded = detection.compute(probabilities: prob, offsets: loc, anchors: anchors, batch: 2, classes: 3,
                                         threading: Threading(threads: 2))
        #expect(threaded == serial)
    }

    @Test("a small SSD's detections at batch 1 and 3 with GEMMs on own threads equal the serial ones", arguments: [1, 3])
    func deployForwardOnThreads(batch: Int) throws {
        let model = try SSDModel(config: .tiny(numClasses: 2), seed: 5)
        let (images, _) = toyBatch(batch: batch, size: 64, seed: 9)
        model.threading = .serial
        let serial = try model.detect(images: images, batch: batch)
        for threads in [2, 3] {
            model.threading = Threading(threads: threads, gemmsOnOwnThreads: true)
            let threaded = try model.detect(images: images, batch: batch)
            let ids = stride(from: 0, to: serial.count, by: 6).map { serial[$0] }
            #expect(ids.contains { $0 >= 0 }, "some detections to compare")
            #expect(stride(from: 0, to: threaded.count, by: 6).map { threaded[$0] } == ids, "\(threads) threads: classes and suppression")
            let c = closeness(threaded, serial, rtol: 1e-5, atol: 1e-6)
            #expect(c.passed, "\(threads) threads: \(c)")
        }
    }
}
