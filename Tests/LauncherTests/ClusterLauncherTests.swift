import Foundation
import Glibc
import Launcher
import Testing

/// The launcher's supervision rules with small shell commands (no cluster binaries needed).
@Suite("ClusterLauncher")
struct ClusterLauncherTests {
    static let quick = ClusterLauncher.Options(stopGrace: .milliseconds(500), serviceGrace: .milliseconds(500))
    /// A process that only the launcher's signals end: far longer than any delay a loaded
    /// machine adds (in one CI run a `sleep 30` ended on its own before the grace was over).
    static let longSleep = "exec sleep 600"
    /// The launch's safety deadline in these tests: a bound on a hang, never reached when the
    /// launcher works; shorter than `longSleep`, so a deadline still ends in signals.
    static let deadline = Duration.seconds(120)

    /// Waits (at most 30 s) until `name`'s standard output holds `text`; whether it did.
    static func waitUntil(_ launcher: ClusterLauncher, _ name: String, prints text: String) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(30)
        while !launcher.output(of: name).stdout.contains(text), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return launcher.output(of: name).stdout.contains(text)
    }

    func sh(_ name: String, _ script: String, part: ProcessSpec.Part = .worker, environment: [String: String] = [:]) -> ProcessSpec {
        ProcessSpec(name: name, executable: "/bin/sh", arguments: ["-c", script], environment: environment, part: part)
    }

    @Test("every worker exiting 0 completes the launch; output and environment reach the result")
    func completes() async throws {
        let launcher = ClusterLauncher(options: Self.quick)
        try await launcher.start([sh("a", "echo out-$X; echo err >&2", environment: ["X": "1"]), sh("b", "exit 0")])
        let outcome = await launcher.wait(timeout: .seconds(20))
        #expect(outcome.reason == .completed && outcome.exitStatus == 0, "\(outcome)")
        #expect(outcome.result("a")?.stdout == "out-1\n" && outcome.result("a")?.stderr == "err\n")
    }

    @Test("the first failure is named, the others are stopped with SIGTERM, the status is the failure's")
    func firstFailureStopsTheRest() async throws {
        let launcher = ClusterLauncher(options: Self.quick)
        try await launcher.start([sh("server", Self.longSleep, part: .service), sh("worker 0", Self.longSleep),
                                  sh("worker 1", "sleep 0.3; exit 3")])
        let outcome = await launcher.wait(timeout: Self.deadline)
        #expect(outcome.reason == .failed(name: "worker 1", termination: .exited(3)), "\(outcome)")
        #expect(outcome.exitStatus == 3)
        #expect(outcome.result("worker 0")?.termination == .signaled(SIGTERM))
        #expect(outcome.result("server")?.termination == .signaled(SIGTERM))
    }

    @Test("children start with no blocked and no ignored standard signal (1–31), whatever the launcher has")
    func childSignalsAreReset() async throws {
        // The test runner blocks or ignores some signals; /proc shows what the child inherited.
        let outcome = try await ClusterLauncher.run(ProcessSpec(name: "cat", executable: "/bin/cat", arguments: ["/proc/self/status"]),
                                                    timeout: .seconds(20))
        let lines = try #require(outcome.results.first?.stdout).split(separator: "\n")
        // Bits 32 and 33 are glibc's internal real-time signals, which no program can change.
        for field in ["SigBlk:", "SigIgn:"] {
            let line = try #require(lines.first { $0.hasPrefix(field) })
            let mask = try #require(line.split(separator: "\t").last.flatMap { UInt64($0, radix: 16) })
            #expect(mask & 0x7FFF_FFFF == 0, "\(lines.filter { $0.hasPrefix("Sig") })")
        }
    }

    @Test("interrupt: SIGTERM first, SIGKILL after the grace period for a process that ignores it; exit 130")
    func interrupt() async throws {
        let launcher = ClusterLauncher(options: Self.quick)
        try await launcher.start([sh("polite", Self.longSleep), sh("stubborn", "trap '' TERM; echo ready; while :; do sleep 0.1; done")])
        // Interrupted before the shell ignores SIGTERM, "stubborn" would simply stop on it.
        #expect(await Self.waitUntil(launcher, "stubborn", prints: "ready"), "stubborn never started: \(launcher.output(of: "stubborn"))")
        launcher.interrupt()
        let outcome = await launcher.wait(timeout: Self.deadline)
        #expect(outcome.reason == .interrupted && outcome.exitStatus == 130, "\(outcome)")
        #expect(outcome.result("polite")?.termination == .signaled(SIGTERM))
        #expect(outcome.result("stubborn")?.termination == .signaled(SIGKILL))
    }

    @Test("services still running after the workers completed are stopped after the grace period, and the launch completes")
    func servicesStoppedAfterGrace() async throws {
        let launcher = ClusterLauncher(options: Self.quick)
        try await launcher.start([sh("server", Self.longSleep, part: .service), sh("worker", "exit 0")])
        let outcome = await launcher.wait(timeout: Self.deadline)
        #expect(outcome.reason == .completed && outcome.exitStatus == 0, "\(outcome)")
        #expect(outcome.result("server")?.termination == .signaled(SIGTERM))
    }

    @Test("the deadline stops everything and reports 124")
    func deadline() async throws {
        let outcome = try await ClusterLauncher.run(sh("slow", Self.longSleep), timeout: .milliseconds(300), options: Self.quick)
        #expect(outcome.reason == .timedOut && outcome.exitStatus == 124, "\(outcome)")
    }

    @Test("a missing executable is a LauncherError naming the process and the path")
    func missingExecutable() async throws {
        let launcher = ClusterLauncher(options: Self.quick)
        await #expect {
            try await launcher.start(ProcessSpec(name: "server 0", executable: "/nonexistent/param-server"))
        } throws: { error in
            guard case .cannotStart(let name, let path, _) = error as? LauncherError else { return false }
            return name == "server 0" && path == "/nonexistent/param-server" && "\(error)".contains("swift build -c release")
        }
    }

    @Test("a single process: send, isRunning and result(of:timeout:) kill it at the deadline")
    func singleProcessControl() async throws {
        let launcher = ClusterLauncher(options: Self.quick)
        try await launcher.start(sh("loop", "trap 'echo got-usr1' USR1; while :; do sleep 0.05; done"))
        #expect(launcher.isRunning("loop"))
        try await Task.sleep(for: .milliseconds(200))  // let the shell install its trap
        launcher.send(SIGUSR1, to: "loop")
        let r = try #require(await launcher.result(of: "loop", timeout: .milliseconds(800)))
        #expect(r.termination == .signaled(SIGKILL))
        #expect(r.stdout.contains("got-usr1"))
        #expect(!launcher.isRunning("loop"))
    }

    @Test("a local cluster: scheduler, servers and workers with MXNet's DMLC_* environment")
    func localClusterEnvironment() throws {
        var cluster = try LocalCluster(binDirectory: URL(fileURLWithPath: "/opt/bin"), servers: 2, workers: 2, port: 9100)
        cluster.workerArguments = ["--epochs", "1"]
        cluster.perWorkerArguments = [1: ["--extra"]]
        let p = cluster.processes
        #expect(p.map(\.name) == ["scheduler", "server 0", "server 1", "worker 0", "worker 1"])
        #expect(p.map(\.part) == [.service, .service, .service, .worker, .worker])
        #expect(p[0].executable == "/opt/bin/param-server" && p[3].executable == "/opt/bin/worker")
        #expect(p[0].environment["DMLC_ROLE"] == "scheduler" && p[1].environment["DMLC_ROLE"] == "server")
        #expect(p[4].environment["DMLC_ROLE"] == "worker" && p[4].environment["DMLC_WORKER_ID"] == "1")
        for spec in p {
            #expect(spec.environment["DMLC_PS_ROOT_URI"] == "127.0.0.1" && spec.environment["DMLC_PS_ROOT_PORT"] == "9100")
            #expect(spec.environment["DMLC_NUM_SERVER"] == "2" && spec.environment["DMLC_NUM_WORKER"] == "2")
        }
        #expect(p[3].arguments == ["--epochs", "1"] && p[4].arguments == ["--epochs", "1", "--extra"])
        #expect(throws: LauncherError.invalidCluster(servers: 0, workers: 2)) {
            try LocalCluster(binDirectory: URL(fileURLWithPath: "/opt/bin"), servers: 0, workers: 2)
        }
        #expect(try freeLoopbackPort() > 0)
    }
}
