import Detection
import Foundation
import Tensor
import TestSupport
import Testing

@Suite("MultiBoxTarget over threads")
struct MultiBoxTargetThreadingTests {
    @Test("images split over 2 or 3 threads give exactly one thread's targets, and MXNet's", arguments: [2, 3])
    func threadsGiveTheSameTargets(threads: Int) throws {
        let f = try detectionFixture("multibox.bin")
        let anchors = try f.values("target/anchors"), labels = try f.array("target/labels"), preds = try f.array("target/clsPreds")
        func targets(_ threading: Threading) -> MultiBoxTarget.Output {
            MultiBoxTarget().compute(anchors: anchors, labels: labels.values, labelWidth: 5, batch: 3,
                                     classPredictions: preds.values, classes: 3, threading: threading)
        }
        let serial = targets(.serial), threaded = targets(Threading(threads: threads))
        #expect(threaded.clsTarget == serial.clsTarget && threaded.locMask == serial.locMask && threaded.positives == serial.positives)
        #expect(threaded.locTarget.map(\.bitPattern) == serial.locTarget.map(\.bitPattern))
        #expect(threaded.clsTarget == (try f.values("target/clsTarget")))
        #expect(threaded.positives == [4, 1, 0])
    }
}
