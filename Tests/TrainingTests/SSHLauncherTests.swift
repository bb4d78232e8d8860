import Foundation
import Glibc
import Launcher
import TestSupport
import Testing

/// Whether this machine can make the test's ssh hosts.
let sshHostsPossible = getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh")
    && ["/usr/sbin/ip", "/usr/bin/ip", "/sbin/ip", "/bin/ip"].contains { FileManager.default.isExecutableFile(atPath: $0) }

/// deploy/ssh.sh run for real: two "hosts" are network namespaces each running Debian's sshd
/// (deploy/ssh-hosts-netns.sh, keys made for the test), the scheduler on this machine, a server
/// and a worker on each host.
@Suite("deploy/ssh.sh across sshd hosts in network namespaces", .serialized,
       .enabled(if: sshHostsPossible, "needs root, iproute2 (ip netns) and openssh-server/-client (scripts/install-deps.sh)"))
struct SSHLauncherTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    let work: URL
    let hosts: URL
    init() async throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("ssh-e2e-\(UUID().uuidString)")
        hosts = work.appendingPathComponent("hosts")
        let synth = try await runProcess(productsDirectory.appendingPathComponent("ssd"),
                                         ["synth", "--output", work.appendingPathComponent("data").path, "--num-classes", "2",
                                          "--train", "16", "--validation", "4", "--image-size", "64"], timeout: 60)
        guard synth.status == 0 else { throw SetupFailure(step: "ssd synth", output: synth.stderr) }
        let up = try await runScript(Self.root.appendingPathComponent("deploy/ssh-hosts-netns.sh").path, ["up", hosts.path, "2"], timeout: 60)
        guard up.status == 0 else { throw SetupFailure(step: "ssh-hosts-netns.sh up", output: up.stderr) }
    }

    func tearDown() async throws {
        _ = try await runScript(Self.root.appendingPathComponent("deploy/ssh-hosts-netns.sh").path, ["down", hosts.path], timeout: 60)
        try? FileManager.default.removeItem(at: work)
    }

    func start(_ model: String, epochs: Int, port: Int, environment: [String: String] = [:]) async throws -> ClusterLauncher {
        let rootURI = try String(contentsOf: hosts.appendingPathComponent("root_uri"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let launcher = ClusterLauncher()
        try await launcher.start(ProcessSpec(
            name: "ssh.sh", executable: "/bin/bash",
            arguments: [Self.root.appendingPathComponent("deploy/ssh.sh").path, "-H", hosts.appendingPathComponent("hosts").path,
                        "-F", hosts.appendingPathComponent("ssh_config").path, "-r", rootURI, "-p", "\(port)", "-b", productsDirectory.path,
                        "-d", Self.root.path, "--",
                        productsDirectory.appendingPathComponent("worker").path, "--data-root", work.appendingPathComponent("data").path,
                        "--model-dir", work.appendingPathComponent(model).path, "--tiny-network", "--num_classes", "2",
                        "--num_training_samples", "16", "--use_pretrained_model", "0", "--epochs", "\(epochs)", "--mini_batch_size", "2",
                        "--kv_store", "dist_sync", "--blas-threads", "1", "--log-every", "1"],
            environment: ["PS_HEARTBEAT_TIMEOUT": "5"].merging(environment) { $1 }))
        return launcher
    }

    /// The launch id ssh.sh tags every process with (its first line says it).
    func launchID(_ launcher: ClusterLauncher) -> String? {
        let out = launcher.output(of: "ssh.sh").stdout
        guard let range = out.range(of: "; launch ") else { return nil }
        return String(out[range.upperBound...].prefix { !$0.isWhitespace })
    }

    /// Waits (at most 60 s) until both workers log a training batch.
    func waitForTraining(_ launcher: ClusterLauncher) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(60)
        func training(_ w: Int) -> Bool {
            launcher.output(of: "ssh.sh").stdout.split(separator: "\n").contains { $0.contains("worker \(w)]") && $0.contains("Batch [") }
        }
        while !(training(0) && training(1)) && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        return training(0) && training(1)
    }

    @Test("trains the small SSD in dist_sync across two ssh hosts; Ctrl-C and a killed remote worker leave no process on any host")
    func sshCluster() async throws {
        do { try await runCluster() } catch {
            try await tearDown()
            throw error
        }
        try await tearDown()
    }

    func runCluster() async throws {
        // A full run, secure: 2 servers and 2 workers over ssh, the scheduler here; ssh.sh copies
        // the CURVE keys to each host (0600) and removes them at the end.
        let keys = work.appendingPathComponent("keys").path
        let made = try await runProcess(productsDirectory.appendingPathComponent("ssd"), ["keys", "--output", keys], timeout: 30)
        #expect(made.status == 0, "\(made.stderr)")
        let ok = try await start("ok", epochs: 1, port: Int(try freeLoopbackPort()), environment: ["PS_SECURE_DIR": keys])
        let okEnd = try #require(await ok.result(of: "ssh.sh", timeout: .seconds(120)))
        #expect(okEnd.termination == .exited(0), "\(okEnd.stdout) \(okEnd.stderr)")
        #expect(okEnd.stdout.contains("effective batch 4 (dist_sync)"), "\(okEnd.stdout)")
        #expect(okEnd.stdout.contains("secure cluster (CURVE): keys of"), "\(okEnd.stdout)")
        // Every server on the hosts ran with the copy of the keys (its log says where they were).
        let copies = okEnd.stdout.split(separator: "\n").filter { $0.contains(" server ") && $0.contains("secure: CURVE with the keys of") }
        #expect(copies.count == 2 && copies.allSatisfy { $0.contains("/.ssd-keys/ssh-") }, "\(okEnd.stdout)")
        let home = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".ssd-keys")
        if let id = launchID(ok) { #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent(id).path), "keys left on the hosts") }
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("ok/model_algo_1-0001.params").path))
        if let id = launchID(ok) { #expect(await noProcessLeft(tag: id, variable: "SSD_LAUNCH")) }

        // Ctrl-C in the middle of a long run: every process on every host stops.
        let long = try await start("int", epochs: 500, port: Int(try freeLoopbackPort()))
        #expect(try await waitForTraining(long), "\(long.output(of: "ssh.sh"))")
        let intID = try #require(launchID(long))
        #expect(taggedProcesses(tag: intID, variable: "SSD_LAUNCH").count >= 4, "scheduler or 2 servers + 2 workers should run")
        long.send(SIGINT, to: "ssh.sh")
        let intEnd = try #require(await long.result(of: "ssh.sh", timeout: .seconds(30)))
        #expect(intEnd.termination == .exited(130), "\(intEnd.stderr)")
        #expect(await noProcessLeft(tag: intID, variable: "SSD_LAUNCH"), "processes left on the hosts after Ctrl-C")

        // A remote worker killed: the launch fails and tears everything down.
        let victim = try await start("kill", epochs: 500, port: Int(try freeLoopbackPort()))
        #expect(try await waitForTraining(victim), "\(victim.output(of: "ssh.sh"))")
        let killID = try #require(launchID(victim))
        let worker1 = taggedProcesses(tag: killID, variable: "SSD_LAUNCH", alsoHaving: "DMLC_WORKER_ID=1")
        #expect(worker1.count == 1)
        for pid in worker1 { kill(pid, SIGKILL) }
        let killEnd = try #require(await victim.result(of: "ssh.sh", timeout: .seconds(60)))
        #expect(killEnd.termination != .exited(0) && killEnd.termination != .signaled(SIGKILL), "\(killEnd.stderr)")
        #expect(killEnd.stderr.contains("worker 1 exited with status"), "\(killEnd.stderr)")
        #expect(await noProcessLeft(tag: killID, variable: "SSD_LAUNCH"), "processes left on the hosts after a worker died")
    }
}

/// A failed set-up step fails the test with its output (a `precondition` would end the whole
/// test process, as it did when the hosts came up too slowly under ThreadSanitizer).
struct SetupFailure: Error, CustomStringConvertible {
    var step: String
    var output: String
    var description: String { "\(step) failed: \(output)" }
}
