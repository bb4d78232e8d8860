import Foundation
import Glibc
import Launcher
import TestSupport
import Testing

/// Stopping a run gives its workers time to finish: a worker alone finishes the step in hand
/// and writes a checkpoint after SIGTERM (up to 25 s; an SSD300 step alone takes 6–7 s on 2
/// cores), so the launchers wait for it before SIGKILL. Here a stand-in worker (a shell script)
/// takes 5 s to stop after SIGTERM — longer than the old 1 s (`deploy/local.sh`) and 3 s
/// (`ssd train`) before SIGKILL — and marks that it got to the end.
@Suite("Stopping waits for workers to finish (ssd train, deploy/local.sh)", .serialized)
struct StopGraceTests {
    let work: URL
    init() throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("stop-grace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    }

    /// A worker stand-in: says it started, and on SIGTERM takes 5 s, writes `done`, exits 130.
    func slowStopper() throws -> String {
        let path = work.appendingPathComponent("worker").path
        let script = """
            #!/bin/bash
            trap 'sleep 5; touch "\(work.path)/done"; exit 130' TERM
            touch "\(work.path)/started"
            while :; do sleep 0.1; done
            """
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    func waitFor(_ name: String, seconds: Double) async throws -> Bool {
        let deadline = ContinuousClock.now + scaledDeadline(.seconds(seconds))
        let path = work.appendingPathComponent(name).path
        while !FileManager.default.fileExists(atPath: path) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        return FileManager.default.fileExists(atPath: path)
    }

    @Test("ssd train: Ctrl-C lets a worker that takes 5 s to stop finish, then exits")
    func ssdTrain() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        // `ssd train` runs the `worker` beside its own executable: a link to `ssd` next to the stand-in.
        _ = try slowStopper()
        let ssd = work.appendingPathComponent("ssd").path
        do { try FileManager.default.linkItem(atPath: productsDirectory.appendingPathComponent("ssd").path, toPath: ssd) }
        catch { try FileManager.default.copyItem(atPath: productsDirectory.appendingPathComponent("ssd").path, toPath: ssd) }
        let launcher = ClusterLauncher()
        try await launcher.start(ProcessSpec(name: "ssd", executable: ssd, arguments: ["train", "--", "--epochs", "1"]))
        #expect(try await waitFor("started", seconds: 30), "the worker stand-in did not start")
        let sent = ContinuousClock.now
        launcher.send(SIGINT, to: "ssd")
        let end = await launcher.result(of: "ssd", timeout: scaledDeadline(.seconds(40)))
        #expect(end != nil, "ssd train did not exit")
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("done").path),
                "the worker was killed before it finished stopping: \(end?.stderr ?? "")")
        #expect(ContinuousClock.now - sent >= .seconds(4))
    }

    @Test("deploy/local.sh: Ctrl-C lets a worker that takes 5 s to stop finish, exits 130, leaves no process")
    func deployLocal() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/local.sh").path
        let worker = try slowStopper()
        let tag = UUID().uuidString
        let launcher = ClusterLauncher()
        try await launcher.start(ProcessSpec(
            name: "local.sh", executable: "/bin/bash",
            arguments: [script, "-s", "1", "-n", "1", "-b", productsDirectory.path, "-l", work.appendingPathComponent("logs").path, "--", worker],
            environment: ["SSD_TEST_TAG": tag]))
        #expect(try await waitFor("started", seconds: 30), "the worker stand-in did not start")
        launcher.send(SIGINT, to: "local.sh")
        let end = await launcher.result(of: "local.sh", timeout: scaledDeadline(.seconds(40)))
        #expect(end?.termination == .exited(130), "\(end?.stderr ?? "no exit")")
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("done").path),
                "the worker was killed before it finished stopping")
        #expect(await noProcessLeft(tag: tag), "the scheduler or the server was left running")
    }
}
