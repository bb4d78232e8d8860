import ArgumentParser
import Foundation
import ParameterServer
import Tensor

/// `ssd train`: the one command for one machine — a single worker process, or with
/// `--workers N --servers M` a whole local cluster of real `param-server` and `worker`
/// processes (scheduler included) with the DMLC environment, logs prefixed by role and rank,
/// and every process stopped as soon as one fails or on Ctrl-C.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train SSD on this machine: alone, or as a local cluster (--workers N --servers M).",
        discussion: """
            Every other argument goes to each `worker` (see `worker --help`): hyperparameters as --name value, \
            --data-root, --model-dir, … With --servers > 0 and no --kv_store, dist_sync is used. Each worker gets \
            cores / workers OpenBLAS threads.
            """)

    @Option(help: "Worker processes.") var workers = 1
    @Option(help: "Parameter servers (0 = no cluster: a single machine).") var servers = 0
    @Argument(parsing: .captureForPassthrough, help: "Arguments for every worker.") var workerArguments: [String] = []

    func validate() throws {
        guard workers >= 1, servers >= 0 else { throw ValidationError("--workers must be >= 1 and --servers >= 0") }
        guard servers > 0 || workers == 1 else { throw ValidationError("several workers need --servers >= 1") }
    }

    func run() throws {
        let bin = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        var env = ProcessInfo.processInfo.environment
        // Each worker chooses its OpenBLAS kernels at start-up (BLASKernelChoice); pass on any decision made here.
        env = BLASKernelChoice.environment(for: env)
        env["OPENBLAS_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] ?? String(max(1, ProcessInfo.processInfo.activeProcessorCount / workers))
        var args = workerArguments
        let group = LocalCluster(bin: bin)
        defer { group.stopAll() }
        if servers > 0 {
            if !args.contains(where: { $0.hasPrefix("--kv_store") || $0.hasPrefix("--kv-store") }) { args += ["--kv_store", "dist_sync"] }
            env["DMLC_PS_ROOT_URI"] = "127.0.0.1"
            env["DMLC_PS_ROOT_PORT"] = String(try freeLoopbackPort())
            env["DMLC_NUM_SERVER"] = String(servers)
            env["DMLC_NUM_WORKER"] = String(workers)
            try group.start("scheduler", "param-server", [], env.merging(["DMLC_ROLE": "scheduler"]) { $1 })
            for s in 0..<servers { try group.start("server \(s)", "param-server", [], env.merging(["DMLC_ROLE": "server"]) { $1 }) }
            for w in 0..<workers {
                try group.start("worker \(w)", "worker", args, env.merging(["DMLC_ROLE": "worker", "DMLC_WORKER_ID": "\(w)"]) { $1 })
            }
        } else {
            env["DMLC_ROLE"] = nil
            try group.start("worker", "worker", args, env)
        }
        let status = group.waitAll()
        if status != 0 { throw ExitCode(status) }
    }
}

/// Child processes with prefixed output; the first failure stops the rest.
final class LocalCluster: @unchecked Sendable {
    let bin: URL
    private var processes: [(name: String, process: Process)] = []
    private let lock = NSLock()
    private let stop = DispatchSemaphore(value: 0)
    private var signalSources: [DispatchSourceSignal] = []

    init(bin: URL) {
        self.bin = bin
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                FileHandle.standardError.write(Data("ssd train: interrupted; stopping every process\n".utf8))
                self?.stopAll()
            }
            source.resume()
            signalSources.append(source)
        }
    }

    func start(_ name: String, _ executable: String, _ arguments: [String], _ environment: [String: String]) throws {
        let p = Process()
        p.executableURL = bin.appendingPathComponent(executable)
        p.arguments = arguments
        p.environment = environment
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        let prefix = "[\(name)] "
        // The handler runs on one queue per handle, one call at a time: the buffer needs no lock.
        let pending = LineBuffer()
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if chunk.isEmpty { handle.readabilityHandler = nil; return }
            for line in pending.append(chunk) { FileHandle.standardOutput.write(Data(prefix.utf8) + line) }
        }
        p.terminationHandler = { [weak self] proc in
            if proc.terminationStatus != 0 { self?.stop.signal() }
        }
        try p.run()
        lock.lock(); processes.append((name, p)); lock.unlock()
    }

    /// Waits until every process ended, or one failed (then stops the others); returns the
    /// first failure's status (0 when all succeeded).
    func waitAll() -> Int32 {
        while true {
            lock.lock(); let all = processes; lock.unlock()
            if let failed = all.first(where: { !$0.process.isRunning && $0.process.terminationStatus != 0 }) {
                FileHandle.standardError.write(Data("ssd train: \(failed.name) exited with status \(failed.process.terminationStatus); stopping the others\n".utf8))
                stopAll()
                return failed.process.terminationStatus
            }
            let workers = all.filter { $0.name.hasPrefix("worker") }
            if workers.allSatisfy({ !$0.process.isRunning }) {
                // Servers stop when worker 0 shuts them down; give them a moment, then make sure.
                let deadline = Date().addingTimeInterval(10)
                while all.contains(where: { $0.process.isRunning }) && Date() < deadline { usleep(50_000) }
                stopAll()
                return 0
            }
            _ = stop.wait(timeout: .now() + 0.2)
        }
    }

    func stopAll() {
        lock.lock(); let all = processes; lock.unlock()
        for (_, p) in all where p.isRunning { p.terminate() }
        let deadline = Date().addingTimeInterval(3)
        while all.contains(where: { $0.process.isRunning }) && Date() < deadline { usleep(20_000) }
        for (_, p) in all where p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
}

/// Bytes received so far, cut into complete lines.
final class LineBuffer: @unchecked Sendable {
    private var data = Data()

    /// Appends `chunk`; returns the complete lines (with their newline) now available.
    func append(_ chunk: Data) -> [Data] {
        data.append(chunk)
        var lines: [Data] = []
        while let nl = data.firstIndex(of: UInt8(ascii: "\n")) {
            lines.append(Data(data[data.startIndex...nl]))
            data.removeSubrange(data.startIndex...nl)
        }
        return lines
    }
}
