import Foundation
import Launcher
import ParameterServer
import TestSupport
import Testing

/// deploy/sagemaker/train as two SageMaker hosts, algo-1 and algo-2, each a network namespace
/// (deploy/ssh-hosts-netns.sh) with its own /opt/ml layout and `SM_CURRENT_HOST`: algo-1 runs the
/// scheduler, and each host a server and a worker, in dist_sync.
@Suite("deploy/sagemaker/train on two hosts in network namespaces", .serialized,
       .enabled(if: sshHostsPossible, "needs root, iproute2 (ip netns) and openssh-server/-client (scripts/install-deps.sh)"))
struct SageMakerMultiHostTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("two hosts train in dist_sync (effective batch 2 × 4) with CURVE keys from the `secure` channel; algo-1's worker 0 writes SageMaker's model artifacts")
    func twoHosts() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("sm-hosts-\(UUID().uuidString)")
        let hostsDir = work.appendingPathComponent("hosts")
        let netns = Self.root.appendingPathComponent("deploy/ssh-hosts-netns.sh").path
        let up = try await runScript(netns, ["up", hostsDir.path, "2"], timeout: 60)
        try #require(up.status == 0, "\(up.stderr)")
        do {
            try await train(work: work, hostsDir: hostsDir)
        } catch {
            _ = try await runScript(netns, ["down", hostsDir.path], timeout: 60)
            try? FileManager.default.removeItem(at: work)
            throw error
        }
        _ = try await runScript(netns, ["down", hostsDir.path], timeout: 60)
        try? FileManager.default.removeItem(at: work)
    }

    func train(work: URL, hostsDir: URL) async throws {
        let fm = FileManager.default
        let data = work.appendingPathComponent("data")
        let synth = try await runProcess(productsDirectory.appendingPathComponent("ssd"),
                                         ["synth", "--output", data.path, "--num-classes", "2", "--train", "16", "--validation", "4",
                                          "--image-size", "64"], timeout: 60)
        try #require(synth.status == 0, "\(synth.stderr)")
        let namespaces = try String(contentsOf: hostsDir.appendingPathComponent("namespaces"), encoding: .utf8).split(separator: "\n").map(String.init)
        try #require(namespaces.count == 2)
        // The keys as SageMaker downloads a channel: files readable by others (sagemaker-train makes a private copy).
        let keys = work.appendingPathComponent("keys")
        try CurveKeys.generate(into: keys.path)
        for name in try fm.contentsOfDirectory(atPath: keys.path) {
            try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keys.appendingPathComponent(name).path)
        }
        let launcher = ClusterLauncher()
        for (k, ns) in namespaces.enumerated() {
            let host = "algo-\(k + 1)", smRoot = work.appendingPathComponent(host)
            try fm.createDirectory(at: smRoot.appendingPathComponent("input/config"), withIntermediateDirectories: true)
            try fm.createDirectory(at: smRoot.appendingPathComponent("input/data"), withIntermediateDirectories: true)
            for channel in ["train", "train_annotation", "validation", "validation_annotation"] {
                try fm.copyItem(at: data.appendingPathComponent(channel), to: smRoot.appendingPathComponent("input/data/\(channel)"))
            }
            try fm.copyItem(at: keys, to: smRoot.appendingPathComponent("input/data/secure"))
            try #"{"num_classes": "2", "num_training_samples": "16", "epochs": "1", "mini_batch_size": "4", "use_pretrained_model": "0", "kv_store": "dist_sync"}"#
                .write(to: smRoot.appendingPathComponent("input/config/hyperparameters.json"), atomically: true, encoding: .utf8)
            try #"{"current_host": "\#(host)", "hosts": ["algo-2", "algo-1"], "network_interface_name": "eth0"}"#
                .write(to: smRoot.appendingPathComponent("input/config/resourceconfig.json"), atomically: true, encoding: .utf8)
            try await launcher.start(ProcessSpec(
                name: host, executable: "/usr/bin/env",
                arguments: ["ip", "netns", "exec", ns, "/bin/bash", Self.root.appendingPathComponent("deploy/sagemaker/train").path],
                environment: ["SM_ROOT": smRoot.path, "SSD_BIN": productsDirectory.path, "SSD_WORKER_ARGS": "--tiny-network --blas-threads 1",
                              "PS_REGISTRATION_TIMEOUT": "60"]))
        }
        let outcome = await launcher.wait(timeout: .seconds(180))
        let logs = outcome.results.map { "\($0.name): \($0.stdout)\($0.stderr)" }.joined(separator: "\n")
        #expect(outcome.reason == .completed, "\(outcome)\n\(logs)")
        for host in ["algo-1", "algo-2"] {
            let log = outcome.result(host).map { $0.stdout + $0.stderr } ?? ""
            #expect(log.contains("effective batch 8 (dist_sync)"), "\(host): \(log)")
            #expect(log.contains("secure: CURVE with the keys of"), "\(host): \(log)")
        }
        #expect(outcome.result("algo-1")?.stderr.contains("host algo-1 of 2: scheduler, server 0, worker 0") == true, "\(logs)")
        #expect(outcome.result("algo-2")?.stderr.contains("host algo-2 of 2: server 1, worker 1") == true, "\(logs)")
        for file in ["model_algo_1-0001.params", "model_algo_1-model.json", "hyperparams.json"] {
            #expect(fm.fileExists(atPath: work.appendingPathComponent("algo-1/model/\(file)").path), "\(file)")
        }
    }
}
