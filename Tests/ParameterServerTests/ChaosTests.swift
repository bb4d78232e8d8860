import Foundation
import TestSupport
import Testing

/// Point 5: chaos on real links. `deploy/netns.sh` runs a scheduler, a server and 2 kv-probe
/// workers in separate network namespaces and injects the fault (`-x`, `-l`); each trial either
/// rides it out with weights equal to one machine's (never corrupted), or stops every process
/// with the verdict of point 1 — never hangs (the script's deadline is the test's).
@Suite("Chaos on real links (network namespaces)", .serialized,
       .enabled(if: networkNamespacesAvailable, "needs root and iproute2's ip netns (scripts/install-deps.sh installs iproute2)"))
struct ChaosTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Runs deploy/netns.sh with `options` and 2 kv-probe workers running `probe`.
    func netns(_ options: [String], probe: [String], environment: [String: String] = [:]) async throws -> ScriptRun {
        try await runScript(Self.root.appendingPathComponent("deploy/netns.sh").path,
                            ["-n", "2", "-b", productsDirectory.path] + options
                                + ["--", productsDirectory.appendingPathComponent("ssd").path, "kv-probe"] + probe,
                            environment: environment, timeout: 120)
    }

    /// Both workers' weights equal one machine's with the doubled batch (the run was not corrupted).
    func expectSameWeights(_ run: ScriptRun, _ probe: [String], _ trial: String) async throws {
        let results = try run.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map { try decodeProbe(String($0)) }
        #expect(results.count == 2, "\(trial): \(run.stdout)")
        let local = try await runLocalProbe(probe + ["--emulate-workers", "2"])
        for r in results {
            #expect(r.weights.count == local.weights.count, "\(trial)")
            for (x, y) in zip(r.weights + [r.bias], local.weights + [local.bias]) {
                #expect(abs(x - y) <= 1e-5 + 1e-5 * abs(y), "\(trial): worker \(r.rank) \(r.weights) vs \(local.weights)")
            }
        }
    }

    /// The script's reports: how long after the first fault every process had ended, packets dropped.
    func reportedEnd(_ run: ScriptRun) -> String {
        let lines = run.stderr.split(separator: "\n").filter { $0.contains("every process ended") || $0.contains("dropped at random") }
        return lines.isEmpty ? "(no report)" : lines.joined(separator: "; ")
    }

    @Test("a worker's link down 5 s mid-run: training rides it out (heartbeat timeout 30 s) with intact weights")
    func linkDownRiddenOut() async throws {
        let probe = ["--steps", "40", "--step-delay", "0.2", "--batch", "4"]
        let r = try await netns(["-x", "down:w1:2:5"], probe: probe)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("w1's link down for 5 s") && r.stderr.contains("w1's link up again"), "\(r.stderr)")
        print("chaos “link down 5 s, PS_HEARTBEAT_TIMEOUT=30”: \(reportedEnd(r))")
        try await expectSameWeights(r, probe, "link down 5 s")
    }

    @Test("a worker's link down 5 s with a 2 s heartbeat timeout: every process stops with the verdict naming the lost peer")
    func linkDownVerdict() async throws {
        let r = try await netns(["-x", "down:w1:2:5"], probe: ["--steps", "400", "--step-delay", "0.1"],
                                environment: ["PS_HEARTBEAT_TIMEOUT": "2", "PS_HEARTBEAT_INTERVAL": "0.5"])
        #expect(r.status == 1, "\(r.stderr)")
        // The server names worker 1 by rank, pid and host; the workers name the server by address.
        #expect(r.stderr.contains("worker 1 (pid") && r.stderr.contains("presumed dead"), "\(r.stderr)")
        #expect(r.stderr.contains("server 0 at tcp://10.231.0."), "\(r.stderr)")
        #expect(r.stderr.contains("every process ended"), "\(r.stderr)")
        print("chaos “link down 5 s, PS_HEARTBEAT_TIMEOUT=2”: \(reportedEnd(r))")
    }

    @Test("10% random packet loss on every host (nftables): training rides it out with intact weights",
          .enabled(if: commandExists("nft"), "needs nftables' nft (scripts/install-deps.sh installs it as optional)"))
    func packetLoss() async throws {
        let probe = ["--steps", "30", "--step-delay", "0.05", "--batch", "4"]
        let r = try await netns(["-l", "10"], probe: probe)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("10% loss"), "\(r.stdout)")
        let report = r.stderr.split(separator: "\n").last { $0.contains("dropped at random") }.map(String.init) ?? ""
        let dropped = Int(report.split(separator: " ").first { Int($0) != nil } ?? "") ?? 0
        #expect(dropped > 0, "no packet was dropped: \(r.stderr)")
        print("chaos “10% loss”: \(report)")
        try await expectSameWeights(r, probe, "10% loss")
    }

    @Test("the server's bandwidth drops to 256 kbit/s mid-run (tc tbf): training slows, completes, weights intact")
    func bandwidthDrop() async throws {
        // 2000 features: 8 kB per push and per pull, so the drop matters (about 0.5 s a step).
        let probe = ["--steps", "24", "--batch", "4", "--dimension", "2000", "--step-delay", "0.1"]
        let r = try await netns(["-r", "1gbit", "-x", "rate:srv0:0.5:256kbit"], probe: probe)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("srv0's link limited to 256kbit"), "\(r.stderr)")
        print("chaos “bandwidth drop to 256 kbit/s”: \(reportedEnd(r))")
        try await expectSameWeights(r, probe, "bandwidth drop")
    }

    // MARK: - The longer matrix (make chaos)

    @Test("make chaos: the server's or the scheduler's link down 5 s, 30% loss — ridden out with intact weights",
          .enabled(if: ProcessInfo.processInfo.environment["SSD_CHAOS"] == "1", "the long matrix runs with `make chaos` (SSD_CHAOS=1)"),
          .enabled(if: commandExists("nft"), "needs nftables' nft (scripts/install-deps.sh installs it as optional)"),
          arguments: [["-x", "down:srv0:2:5"], ["-x", "down:sched:+0:5"], ["-l", "30"]])
    func longMatrix(_ options: [String]) async throws {
        // The scheduler's link goes down at the start: registration waits for it (PS_REGISTRATION_TIMEOUT 60 s).
        let probe = ["--steps", "30", "--step-delay", "0.2", "--batch", "4"]
        let r = try await netns(options, probe: probe)
        #expect(r.status == 0, "\(options): \(r.stderr)")
        print("chaos “\(options.joined(separator: " "))”: \(reportedEnd(r))")
        try await expectSameWeights(r, probe, options.joined(separator: " "))
    }
}

/// Whether `name` is an executable on this machine's usual command paths.
func commandExists(_ name: String) -> Bool {
    ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"]
        .contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(name)") }
}
