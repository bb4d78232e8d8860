import Foundation
import ParameterServer
import TestSupport
import Testing

/// `ssd train --workers N --servers M --secure DIR`: the keys given as a worker option reach the
/// scheduler and the servers too (a role without them could not talk to the others).
@Suite("ssd train --secure (real processes)", .serialized,
       .enabled(if: CurveKeys.isAvailable, "this libzmq was built without CURVE"))
struct SecureLaunchTests {
    @Test("ssd train --workers 2 --servers 1 --secure DIR trains the small SSD with CURVE on every process")
    func ssdTrainSecure() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("secure-train-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let ssd = productsDirectory.appendingPathComponent("ssd")
        let data = work.appendingPathComponent("data").path, keys = work.appendingPathComponent("keys").path
        let synth = try await runProcess(ssd, ["synth", "--output", data, "--num-classes", "2", "--train", "8", "--validation", "0",
                                               "--image-size", "64"], timeout: 60)
        try #require(synth.status == 0, "\(synth.stderr)")
        try CurveKeys.generate(into: keys)
        let r = try await runProcess(ssd, ["train", "--workers", "2", "--servers", "1", "--data-root", data,
                                           "--model-dir", work.appendingPathComponent("model").path, "--tiny-network",
                                           "--num_classes", "2", "--num_training_samples", "8", "--use_pretrained_model", "0",
                                           "--epochs", "1", "--mini_batch_size", "2", "--blas-threads", "1", "--secure", keys],
                                     timeout: 120)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        // The scheduler and the server say they run with the keys; the workers trained through them.
        let secureLines = r.stdout.split(separator: "\n").filter { $0.contains("secure: CURVE with the keys of \(keys)") }
        #expect(secureLines.contains { $0.hasPrefix("[scheduler]") } && secureLines.contains { $0.hasPrefix("[server 0]") }, "\(r.stdout)")
        #expect(r.stdout.contains("effective batch 4 (dist_sync)"), "\(r.stdout)")
    }
}
