import ArgumentParser
import Foundation
import Launcher
import Tensor

/// `ssd train`: the one command for one machine — a single worker process, or with
/// `--workers N --servers M` a whole local cluster of real `param-server` and `worker`
/// processes (scheduler included) with the DMLC environment, logs prefixed by role and rank,
/// and every process stopped as soon as one fails or on Ctrl-C.
struct Train: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train SSD on this machine: alone, or as a local cluster (--workers N --servers M).",
        discussion: """
            Every other argument goes to each `worker` (see `worker --help`): hyperparameters as --name value, \
            --data-root, --model-dir, … With --servers > 0 and no --kv_store, dist_sync is used. Each worker gets \
            cores / workers threads (OPENBLAS_NUM_THREADS; see `worker --threads`).
            """)

    /// Between SIGTERM and SIGKILL when `ssd train` stops its processes.
    static let stopGrace: Duration = .seconds(30)

    @Option(help: "Worker processes.") var workers = 1
    @Option(help: "Parameter servers (0 = no cluster: a single machine).") var servers = 0
    @Argument(parsing: .captureForPassthrough, help: "Arguments for every worker.") var workerArguments: [String] = []

    func validate() throws {
        // The passthrough arguments would swallow --help: answer it here rather than start a cluster.
        if workerArguments.contains(where: { $0 == "--help" || $0 == "-h" }) { throw CleanExit.helpRequest(self) }
        guard workers >= 1, servers >= 0 else { throw ValidationError("--workers must be >= 1 and --servers >= 0") }
        guard servers > 0 || workers == 1 else { throw ValidationError("several workers need --servers >= 1") }
    }

    func run() async throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var env = ProcessInfo.processInfo.environment
        // Each worker chooses its OpenBLAS kernels at start-up (BLASKernelChoice); pass on any decision made here.
        env = BLASKernelChoice.environment(for: env)
        env["OPENBLAS_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] ?? String(ComputeThreads.perWorker(workers: workers))
        // `--secure DIR` (a worker option) holds for the scheduler and the servers too.
        if let i = workerArguments.firstIndex(of: "--secure"), i + 1 < workerArguments.count { env["PS_SECURE_DIR"] = workerArguments[i + 1] }
        if let a = workerArguments.last(where: { $0.hasPrefix("--secure=") }) { env["PS_SECURE_DIR"] = String(a.dropFirst("--secure=".count)) }
        var processes: [ProcessSpec]
        if servers > 0 {
            var cluster = try LocalCluster(binDirectory: bin, servers: servers, workers: workers)
            cluster.environment = env
            cluster.workerArguments = workerArguments
            if !workerArguments.contains(where: { $0.hasPrefix("--kv_store") || $0.hasPrefix("--kv-store") }) {
                cluster.workerArguments += ["--kv_store", "dist_sync"]
            }
            processes = cluster.processes
        } else {
            processes = [ProcessSpec(name: "worker", executable: bin.appendingPathComponent("worker").path, arguments: workerArguments,
                                     environment: env, unsetting: ["DMLC_ROLE"])]
        }
        // Ctrl-C / SIGTERM: the launcher stops every process (SIGTERM, then SIGKILL after a grace
        // period). Children start with default signal dispositions, so they do stop on SIGTERM.
        // A worker alone finishes the step in hand and writes a checkpoint within 25 s of the
        // signal (the worker's StopSignals deadline; one SSD300 step on 2 cores is 6–7 s at batch
        // 8): the grace covers that, and ends as soon as every process has exited.
        let launcher = ClusterLauncher(options: .init(echo: true, capture: false, stopGrace: Self.stopGrace))
        let signalSources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                FileHandle.standardError.write(Data("ssd train: interrupted; stopping every process\n".utf8))
                launcher.interrupt()
            }
            source.resume()
            return source
        }
        defer { signalSources.forEach { $0.cancel() } }
        do {
            try await launcher.start(processes)
        } catch {
            launcher.interrupt()
            _ = await launcher.wait()
            throw error
        }
        let outcome = await launcher.wait()
        switch outcome.reason {
        case .completed: return
        case .failed(let name, let termination):
            FileHandle.standardError.write(Data("ssd train: \(name) \(termination); stopped the others\n".utf8))
        case .interrupted:
            let ends = outcome.results.map { "\($0.name) \($0.termination)" }.joined(separator: ", ")
            FileHandle.standardError.write(Data("ssd train: interrupted (\(ends))\n".utf8))
        case .timedOut: break
        }
        throw ExitCode(outcome.exitStatus)
    }
}
