import ArgumentParser
import Detection
import Foundation
import Launcher

/// `ssd sagemaker-train`: the container's SageMaker training entry point (deploy/sagemaker/train
/// execs it). Reads SageMaker's layout under `--root` (/opt/ml): `input/config/hyperparameters.json`,
/// `input/config/resourceconfig.json` (or `SM_HOSTS` / `SM_CURRENT_HOST`, which win),
/// `input/data/<channel>/` (`train`, `validation`; `model` for incremental training and
/// `pretrained` for base weights, both read by the worker), `checkpoints/` when it exists, and
/// writes `model/` and, on failure, `output/failure`. Roles as in
/// SageMaker's distributed MXNet jobs: every host runs one parameter server and one worker, the
/// first host (sorted) also the scheduler; a single host trains alone.
///
/// Secure clusters: the CURVE keys of `ssd keys` come as the input channel `secure`
/// (`input/data/secure/`, from S3 — encrypt it there with SSE-KMS), never as hyperparameters or
/// environment (DescribeTrainingJob shows both). SageMaker writes channel files readable by
/// others, which the keys loader refuses, so every host copies them into a private directory
/// (0700, files 0600) that is removed when training ends, and gives it to every process as
/// `PS_SECURE_DIR`.
struct SageMakerTrain: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sagemaker-train",
        abstract: "SageMaker's training entry point: roles from resourceconfig.json / SM_HOSTS, then train.")

    @Option(help: "SageMaker's root directory.") var root = ProcessInfo.processInfo.environment["SM_ROOT"] ?? "/opt/ml"
    @Option(help: "Directory with param-server and worker (default: next to this executable).") var bin: String?
    @Argument(parsing: .captureForPassthrough, help: "Extra arguments for the worker.") var workerArguments: [String] = []

    func validate() throws {
        // The passthrough arguments would swallow --help: answer it here rather than start training.
        if workerArguments.contains(where: { $0 == "--help" || $0 == "-h" }) { throw CleanExit.helpRequest(self) }
    }

    /// `resourceconfig.json` as SageMaker writes it (other fields are ignored).
    struct ResourceConfig: Decodable {
        var current_host: String
        var hosts: [String]
    }

    /// The hosts (sorted) and this host, from `SM_HOSTS`/`SM_CURRENT_HOST` or resourceconfig.json.
    static func topology(environment: [String: String], resourceConfig: URL) throws -> (hosts: [String], current: String) {
        var hosts: [String] = [], current: String?
        if let text = environment["SM_HOSTS"] {
            do { hosts = try JSONDecoder().decode([String].self, from: Data(text.utf8)) } catch {
                throw ValidationError("SM_HOSTS=\(text) is not a JSON array of host names (e.g. [\"algo-1\",\"algo-2\"])")
            }
            current = environment["SM_CURRENT_HOST"]
        } else if let data = FileManager.default.contents(atPath: resourceConfig.path) {
            do {
                let config = try JSONDecoder().decode(ResourceConfig.self, from: data)
                hosts = config.hosts
                current = environment["SM_CURRENT_HOST"] ?? config.current_host
            } catch {
                throw ValidationError("\(resourceConfig.path) is not SageMaker's resource configuration ({\"current_host\": …, \"hosts\": […]}): \(error)")
            }
        }
        hosts.sort()
        guard let me = current ?? hosts.first else { return ([], "") }
        guard hosts.isEmpty || hosts.contains(me) else { throw ValidationError("this host \(me) is not among the hosts \(hosts)") }
        return (hosts, me)
    }

    /// The `secure` channel's keys copied to a new private directory (0700, files 0600); nil
    /// when there is no such channel.
    static func privateKeys(channel: URL) throws -> URL? {
        let fm = FileManager.default
        guard fm.fileExists(atPath: channel.path) else { return nil }
        let copy = fm.temporaryDirectory.appendingPathComponent("ssd-keys-\(ProcessInfo.processInfo.processIdentifier)")
        try fm.createDirectory(at: copy, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for name in try fm.contentsOfDirectory(atPath: channel.path) where !name.hasPrefix(".") {
            let target = copy.appendingPathComponent(name)
            guard fm.createFile(atPath: target.path, contents: try Data(contentsOf: channel.appendingPathComponent(name)),
                                attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot copy the key \(name) of \(channel.path) into \(copy.path)")
            }
        }
        return copy
    }

    func run() async throws {
        let fm = FileManager.default
        let rootURL = URL(fileURLWithPath: root)
        let binURL = bin.map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let output = rootURL.appendingPathComponent("output"), model = rootURL.appendingPathComponent("model")
        try fm.createDirectory(at: output, withIntermediateDirectories: true)
        try fm.createDirectory(at: model, withIntermediateDirectories: true)
        func fail(_ reason: String, _ status: Int32) throws -> Never {
            try? Data((reason + "\n").utf8).write(to: output.appendingPathComponent("failure"))
            FileHandle.standardError.write(Data("ssd sagemaker-train: \(reason)\n".utf8))
            throw ExitCode(status)
        }
        let environment = ProcessInfo.processInfo.environment
        let topology: (hosts: [String], current: String)
        do {
            topology = try Self.topology(environment: environment,
                                         resourceConfig: rootURL.appendingPathComponent("input/config/resourceconfig.json"))
        } catch {
            try fail("\(error)", 2)
        }
        var args = ["--hyperparameters", rootURL.appendingPathComponent("input/config/hyperparameters.json").path,
                    "--data-root", rootURL.appendingPathComponent("input/data").path, "--model-dir", model.path]
        // Incremental training: SageMaker hands the model channel over as the earlier job's
        // model.tar.gz; the worker reads the files in it.
        let modelChannel = rootURL.appendingPathComponent("input/data/model")
        let tarball = modelChannel.appendingPathComponent("model.tar.gz")
        if fm.fileExists(atPath: tarball.path), !fm.fileExists(atPath: modelChannel.appendingPathComponent(ModelArtifacts.symbolFile).path) {
            let unpack = ProcessSpec(name: "tar", executable: "/bin/tar", arguments: ["-xzf", tarball.path, "-C", modelChannel.path])
            func unusable(_ reason: String) throws -> Never {
                try fail("cannot unpack the model channel's \(tarball.path) (\(reason)): give the model.tar.gz of an earlier job, "
                         + "or remove the model channel to train without it", 2)
            }
            let outcome: LaunchOutcome
            do { outcome = try await ClusterLauncher.run(unpack, timeout: .seconds(600)) } catch { try unusable("\(error)") }
            if outcome.reason != .completed { try unusable("\(outcome) \(outcome.results.first?.stderr ?? "")") }
        }
        // Checkpoints where SageMaker syncs them (it creates the directory when the job has a
        // CheckpointConfig); the worker resumes from them after a spot interruption.
        let checkpoints = rootURL.appendingPathComponent("checkpoints").path
        if fm.fileExists(atPath: checkpoints) { args += ["--checkpoint-dir", checkpoints] }
        args += workerArguments
        let worker = binURL.appendingPathComponent("worker").path, server = binURL.appendingPathComponent("param-server").path
        let keys: URL?
        do { keys = try Self.privateKeys(channel: rootURL.appendingPathComponent("input/data/secure")) } catch { try fail("\(error)", 1) }
        defer { if let keys { try? fm.removeItem(at: keys) } }
        var processes: [ProcessSpec]
        if topology.hosts.count <= 1 {
            // One host: the single-machine trainer (kv_store does not apply; the worker says so).
            processes = [ProcessSpec(name: "worker", executable: worker, arguments: args + ["--kv_store", "local"],
                                     unsetting: ["SM_HOSTS", "SM_CURRENT_HOST", "DMLC_ROLE"])]
        } else {
            let first = topology.hosts[0], rank = topology.hosts.firstIndex(of: topology.current) ?? 0
            let cluster = ["DMLC_PS_ROOT_URI": first, "DMLC_PS_ROOT_PORT": environment["DMLC_PS_ROOT_PORT"] ?? "9091",
                           "DMLC_NUM_SERVER": "\(topology.hosts.count)", "DMLC_NUM_WORKER": "\(topology.hosts.count)",
                           "DMLC_NODE_HOST": topology.current].merging(keys.map { ["PS_SECURE_DIR": $0.path] } ?? [:]) { $1 }
            processes = []
            if topology.current == first {
                processes.append(ProcessSpec(name: "scheduler", executable: server, environment: cluster.merging(["DMLC_ROLE": "scheduler"]) { $1 },
                                             part: .service))
            }
            processes.append(ProcessSpec(name: "server \(rank)", executable: server, environment: cluster.merging(["DMLC_ROLE": "server"]) { $1 },
                                         part: .service))
            processes.append(ProcessSpec(name: "worker \(rank)", executable: worker, arguments: args,
                                         environment: cluster.merging(["DMLC_ROLE": "worker", "DMLC_WORKER_ID": "\(rank)"]) { $1 }))
        }
        FileHandle.standardError.write(Data("ssd sagemaker-train: host \(topology.current) of \(max(1, topology.hosts.count)): \(processes.map(\.name).joined(separator: ", "))\n".utf8))
        // SIGTERM reaches the worker through the launcher; it has 30 s to finish its step and
        // write a checkpoint before SIGKILL (it exits by itself after 25 s).
        let launcher = ClusterLauncher(options: .init(echo: true, capture: false, stopGrace: .seconds(30), serviceGrace: .seconds(60)))
        let signalSources = [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { launcher.interrupt() }
            source.resume()
            return source
        }
        defer { signalSources.forEach { $0.cancel() } }
        do { try await launcher.start(processes) } catch {
            launcher.interrupt()
            _ = await launcher.wait()
            try fail("\(error)", 1)
        }
        let outcome = await launcher.wait()
        if outcome.reason != .completed { try fail("\(outcome)", outcome.exitStatus) }
    }
}
