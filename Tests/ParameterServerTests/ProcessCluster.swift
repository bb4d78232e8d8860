import Foundation
import Glibc
import Launcher
import TestSupport

/// Real `param-server` processes and `ssd kv-probe` workers on 127.0.0.1 for a test, started
/// and supervised by the `ClusterLauncher`; every wait has a deadline and `stopAll()` leaves
/// nothing running. Process names: `scheduler`, `server 0`…, `worker 0`….
final class ProcessCluster: @unchecked Sendable {
    let cluster: LocalCluster
    let launcher = ClusterLauncher()
    var extraEnvironment: [String: String] = [:]

    init(servers: Int, workers: Int) throws {
        var cluster = try LocalCluster(binDirectory: productsDirectory, servers: servers, workers: workers)
        cluster.environment = ["PS_REGISTRATION_TIMEOUT": "30"]
        cluster.workerExecutable = productsDirectory.appendingPathComponent("ssd").path
        self.cluster = cluster
    }

    deinit { stopAll() }

    /// Starts one process named `name` with the cluster's environment plus `extra`.
    func start(_ name: String, executable: String, arguments: [String] = [], environment extra: [String: String] = [:]) async throws {
        let env = cluster.environment.merging(cluster.clusterEnvironment) { $1 }.merging(extraEnvironment) { $1 }.merging(extra) { $1 }
        try await launcher.start(ProcessSpec(name: name, executable: productsDirectory.appendingPathComponent(executable).path,
                                             arguments: arguments, environment: env))
    }

    /// Scheduler + servers + workers (`ssd kv-probe --rank r` with `probeArguments`).
    func startAll(probeArguments: [String], perWorker: [Int: [String]] = [:]) async throws {
        var c = cluster
        c.environment = c.environment.merging(extraEnvironment) { $1 }
        c.workerArguments = ["kv-probe"] + probeArguments
        c.perWorkerArguments = Dictionary(uniqueKeysWithValues: (0..<c.workers).map { ($0, ["--rank", "\($0)"] + (perWorker[$0] ?? [])) })
        try await launcher.start(c.processes)
    }

    /// Waits for `name` to exit (at most `seconds`); its status, or nil when it had to be killed.
    @discardableResult
    func wait(_ name: String, seconds: Double = 60) async -> Int32? {
        guard let r = await launcher.result(of: name, timeout: .milliseconds(Int(seconds * 1000))) else { return nil }
        return r.termination == .signaled(SIGKILL) ? nil : r.status
    }

    /// Waits for every process (each at most `seconds`); name → status (nil: killed).
    func waitAll(seconds: Double = 60) async -> [String: Int32?] {
        var result: [String: Int32?] = [:]
        for name in names { result[name] = await wait(name, seconds: seconds) }
        return result
    }

    var names: [String] { (["scheduler"] + (0..<cluster.servers).map { "server \($0)" } + (0..<cluster.workers).map { "worker \($0)" }) }

    /// Waits (at most `seconds`) until `name`'s standard error contains `text`; whether it did.
    func waitUntil(_ name: String, logs text: String, seconds: Double = 30) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !errors(name).contains(text) && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        return errors(name).contains(text)
    }

    /// Waits until every worker trains: past initialize's barrier (the probe logs "keys
    /// initialized"), so every server has heard from every worker. ("connected" came too early
    /// for a fault: a server stopped then had not yet heard from a worker.)
    func waitUntilTraining(seconds: Double = 30) async -> Bool {
        for w in 0..<cluster.workers where !(await waitUntil("worker \(w)", logs: "keys initialized", seconds: seconds)) { return false }
        return true
    }

    func isRunning(_ name: String) -> Bool { launcher.isRunning(name) }
    func send(_ signal: Int32, to name: String) { launcher.send(signal, to: name) }
    func output(_ name: String) -> String { launcher.output(of: name).stdout }
    func errors(_ name: String) -> String { launcher.output(of: name).stderr }

    /// Kills whatever still runs.
    func stopAll() { launcher.sendToAll(SIGKILL) }
}

/// Result JSON printed by `ssd kv-probe`.
struct ProbeResult: Decodable {
    var rank: Int
    var workers: Int
    var weights: [Float]
    var bias: Float
    var losses: [Double]
    var bigKeyRoundTrip: Bool?
    var payloadPaths: String?
}

func decodeProbe(_ text: String) throws -> ProbeResult {
    try JSONDecoder().decode(ProbeResult.self, from: Data(text.utf8))
}

/// Runs `ssd kv-probe --local` and returns its result.
func runLocalProbe(_ arguments: [String]) async throws -> ProbeResult {
    let r = try await runProcess(productsDirectory.appendingPathComponent("ssd"), ["kv-probe", "--local"] + arguments, timeout: 60)
    return try decodeProbe(r.stdout)
}
