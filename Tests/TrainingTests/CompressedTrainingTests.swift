import Foundation
import ParameterServer
import Testing
@testable import Training

extension TrainerTests {
    @Test("dist_sync with 2bit gradient compression: 2 workers train the small SSD and the loss still falls")
    func distSyncTwoBit() throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        // The small SSD's gradients are of order 1e-3 (losses normalized by the anchors), so
        // MXNet's default threshold 0.5 would send nothing for hundreds of steps; 2bit is used
        // here as a user would for such gradients, with a threshold at their scale.
        let compression = GradientCompression(kind: .twoBit, threshold: 0.002)
        let summaries = try Self.runCluster(workers: 2, compression: compression) { w in
            var o = options("c\(w)", epochs: 3, batch: 2, kvStore: .sync)
            o.hyperparameters.learningRate = 0.01
            return o
        }
        #expect(summaries.map(\.rank) == [0, 1])
        for s in summaries {
            #expect(s.lastLoss < s.firstLoss, "worker \(s.rank): loss \(s.firstLoss) → \(s.lastLoss)")
        }
    }
}
