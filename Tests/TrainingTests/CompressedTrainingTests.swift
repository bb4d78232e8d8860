import Foundation
import ParameterServer
import Testing
@testable import Training

extension TrainerTests {
    @Test("dist_sync with 2bit gradient compression: 2 workers train the small SSD and the loss still falls")
    func distSyncTwoBit() async throws {
        defer { try? FileManager.default.removeItem(atPath: work) }
        // 2bit sends ±threshold per value and step: with the small SSD's gradients (of order
        // 1e-2 from scratch) MXNet's default 0.5 would hold nearly everything back for many
        // steps, so the threshold is set at their scale, as a user would.
        let compression = GradientCompression(kind: .twoBit, threshold: 0.05)
        let summaries = try await Self.runCluster(workers: 2, compression: compression) { w in
            var o = options("c\(w)", epochs: 3, batch: 2, kvStore: .sync)
            o.hyperparameters.learningRate = 0.01
            return o
        }
        #expect(summaries.map(\.rank) == [0, 1] && summaries.allSatisfy { $0.effectiveBatch == 4 })
        // Epoch means of worker 0's batch losses (single batches are too noisy to compare).
        let means = try metricsEvents("c0").filter { $0.contains("\"event\":\"epoch_end\"") }.map { line -> Double in
            let o = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(o["mean_batch_cross_entropy"] as? Double) + (try #require(o["mean_batch_smooth_l1"] as? Double))
        }
        #expect(means.count == 3)
        #expect(try #require(means.last) < means[0], "epoch mean losses \(means)")
    }
}
