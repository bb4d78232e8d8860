import Foundation
import Glibc
import Launcher
import TestSupport
import Testing

/// Point 1's "during validation" trial with the real SSD trainer: worker 0 validates (the small
/// network, 32 validation images: seconds) while worker 1 waits in the end-of-epoch barrier.
/// Worker 0 frozen there (SIGSTOP: no heartbeats either) is a lost peer: the server and
/// worker 1 stop naming it; thawed, worker 0 finishes its validation and stops too.
@Suite("Fault during validation (real SSD workers)", .serialized)
struct ValidationFaultTests {
    @Test("worker 0 frozen (SIGSTOP) during validation: the server and worker 1 stop naming it; thawed, it stops too",
          .enabled(if: ProcessInfo.processInfo.environment["SSD_CHAOS"] == "1", "timing-sensitive (the freeze must land inside a validation of a few seconds): runs with `make chaos` (SSD_CHAOS=1)"))
    func frozenDuringValidation() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("validation-fault-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        let data = work.appendingPathComponent("data").path
        let synth = try await runProcess(productsDirectory.appendingPathComponent("ssd"),
                                         ["synth", "--output", data, "--num-classes", "2", "--train", "8", "--validation", "32",
                                          "--image-size", "64"], timeout: 60)
        try #require(synth.status == 0, "\(synth.stderr)")
        var cluster = try LocalCluster(binDirectory: productsDirectory, servers: 1, workers: 2)
        cluster.environment = ["PS_HEARTBEAT_INTERVAL": "0.5", "PS_HEARTBEAT_TIMEOUT": "2"]
        cluster.workerArguments = ["--data-root", data, "--model-dir", work.appendingPathComponent("model").path, "--tiny-network",
                                   "--num_classes", "2", "--num_training_samples", "8", "--use_pretrained_model", "0",
                                   "--epochs", "2", "--mini_batch_size", "2", "--kv_store", "dist_sync", "--blas-threads", "1"]
        let launcher = ClusterLauncher()
        defer { launcher.sendToAll(SIGKILL) }
        var worker0: pid_t = 0
        for spec in cluster.processes {
            let pid = try await launcher.start(spec)
            if spec.name == "worker 0" { worker0 = pid }
        }
        func log(_ name: String) -> String { launcher.output(of: name).stderr }

        // Worker 0 writes the epoch's record to metrics.jsonl (synced), then validates: freeze it
        // there. A thread of its own watches the file, so a busy test runner cannot miss the moment.
        let metrics = work.appendingPathComponent("model/metrics.jsonl").path
        let frozen = Thread.freeze(pid: worker0, whenFile: metrics, contains: "\"epoch_end\"", within: 180)
        while !frozen.isDone { try await Task.sleep(for: .milliseconds(20)) }
        try #require(frozen.didFreeze, "worker 0 never ended its first epoch: \(log("worker 0"))")
        let fault = ContinuousClock.now
        #expect(!log("worker 0").contains("Epoch[0] Validation-mAP"), "frozen after its validation, not during it")

        for name in ["server 0", "worker 1"] {
            let r = await launcher.result(of: name, timeout: .seconds(30))
            #expect(r?.termination == .exited(1), "\(name): \(String(describing: r?.termination)) \(log(name))")
            #expect(log(name).contains("worker 0 (pid") && log(name).contains("presumed dead")
                    && log(name).contains("--resume MODEL_DIR"), "\(name): \(log(name))")
        }
        #expect(log("worker 1").contains("server 0 at tcp://127.0.0.1:"), "\(log("worker 1"))")
        let elapsed = (ContinuousClock.now - fault).components
        print("fault trial “worker 0 SIGSTOP during validation”: server and worker 1 exited "
              + String(format: "%.1f", Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18) + " s after the fault")

        // Thawed: it completes the validation it was in, then learns the job is over.
        launcher.send(SIGCONT, to: "worker 0")
        let thawed = await launcher.result(of: "worker 0", timeout: .seconds(60))
        #expect(thawed?.termination == .exited(1), "\(String(describing: thawed?.termination)) \(log("worker 0"))")
        #expect(log("worker 0").contains("Epoch[0] Validation-mAP") && log("worker 0").contains("server 0 at tcp://127.0.0.1:"),
                "\(log("worker 0"))")
    }
}

/// A thread that sends SIGSTOP to a process as soon as a file holds a text (or gives up after a
/// deadline), independent of the test runner's task pool.
final class FreezeWatch: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false, froze = false
    var isDone: Bool { lock.lock(); defer { lock.unlock() }; return done }
    var didFreeze: Bool { lock.lock(); defer { lock.unlock() }; return froze }
    fileprivate func finish(froze: Bool) { lock.lock(); done = true; self.froze = froze; lock.unlock() }
}

extension Thread {
    /// Polls `path` every 2 ms for `text`; then SIGSTOP to `pid`. Gives up after `within` seconds.
    static func freeze(pid: pid_t, whenFile path: String, contains text: String, within seconds: Double) -> FreezeWatch {
        let watch = FreezeWatch()
        let thread = Thread {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let data = FileManager.default.contents(atPath: path), String(decoding: data, as: UTF8.self).contains(text) {
                    watch.finish(froze: kill(pid, SIGSTOP) == 0)
                    return
                }
                usleep(2_000)
            }
            watch.finish(froze: false)
        }
        thread.start()
        return watch
    }
}
