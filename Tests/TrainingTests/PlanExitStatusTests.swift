import Foundation
import TestSupport
import Testing

/// `ssd plan` follows the exit-status policy (README, "Exit status"): a missing or unusable
/// calibration is a configuration error (2), as a missing checkpoint is — not a runtime failure.
@Suite("ssd plan exit status")
struct PlanExitStatusTests {
    @Test("a missing calibration file: exit 2 with the command that measures one")
    func notCalibrated() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("plan-exit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("none.json").path
        let r = try await runProcess(productsDirectory.appendingPathComponent("ssd"), ["plan", "--calibration", missing], timeout: 60)
        #expect(r.status == 2 && r.stderr.hasPrefix("ssd plan: cannot read the calibration") && r.stderr.contains("--calibrate"),
                "\(r.status) \(r.stderr)")
    }
}
