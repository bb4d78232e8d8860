import Foundation
import Launcher
import ParameterServer
import TestSupport
import Testing

/// MXNet's launch convention: a tracker starts one command for every node with the role in
/// `DMLC_ROLE`; `DMLC_INTERFACE` names the interface whose address a server announces.
@Suite("MXNet launch conventions (real processes)", .serialized)
struct LaunchConventionTests {
    let work: URL
    init() async throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("conventions-\(UUID().uuidString)")
        let synth = try await runProcess(productsDirectory.appendingPathComponent("ssd"),
                                         ["synth", "--output", work.appendingPathComponent("data").path, "--num-classes", "2",
                                          "--train", "8", "--validation", "2", "--image-size", "64"], timeout: 60)
        guard synth.status == 0 else { throw SetupFailure(step: "ssd synth", output: synth.stderr) }
    }

    @Test("one command for every role, secure: `worker --secure DIR` runs the scheduler, the server and both workers (DMLC_INTERFACE=lo), dist_sync trains")
    func oneCommandForEveryRole() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        // `--secure` on the one command line: a role that ignored it could not talk to the others.
        let keys = work.appendingPathComponent("keys").path
        try CurveKeys.generate(into: keys)
        var cluster = try LocalCluster(binDirectory: productsDirectory, servers: 1, workers: 2)
        cluster.serverExecutable = productsDirectory.appendingPathComponent("worker").path
        cluster.environment = ["DMLC_INTERFACE": "lo"]
        cluster.workerArguments = ["--data-root", work.appendingPathComponent("data").path, "--model-dir", work.appendingPathComponent("m").path,
                                   "--tiny-network", "--num_classes", "2", "--num_training_samples", "8", "--use_pretrained_model", "0",
                                   "--epochs", "1", "--mini_batch_size", "2", "--kv_store", "dist_sync", "--blas-threads", "1",
                                   "--secure", keys]
        // The scheduler and server get the very same command line as the workers.
        let processes = cluster.processes.map { spec -> ProcessSpec in
            var s = spec
            s.arguments = cluster.workerArguments
            return s
        }
        #expect(Set(processes.map(\.executable)).count == 1)
        let launcher = ClusterLauncher()
        try await launcher.start(processes)
        let outcome = await launcher.wait(timeout: .seconds(120))
        #expect(outcome.reason == .completed, "\(outcome) \(outcome.results.map(\.stderr))")
        let server = try #require(outcome.result("server 0")).stderr
        #expect(server.contains("serving at tcp://127.0.0.1:") && server.contains("shut down by worker 0"), "\(server)")
        #expect(try #require(outcome.result("scheduler")).stderr.contains("cluster complete"))
        #expect(try #require(outcome.result("worker 0")).stderr.contains("effective batch 4 (dist_sync)"))
    }

    @Test("DMLC_INTERFACE naming no interface is a configuration error (exit 2) listing the interfaces",
          arguments: ["worker", "param-server"])
    func unknownInterface(executable: String) async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let r = try await runProcess(productsDirectory.appendingPathComponent(executable), [],
                                     environment: ["DMLC_ROLE": "server", "DMLC_INTERFACE": "nosuch9", "DMLC_PS_ROOT_URI": "127.0.0.1",
                                                   "DMLC_PS_ROOT_PORT": "9", "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "1"], timeout: 30)
        #expect(r.status == 2 && r.stderr.contains("DMLC_INTERFACE=nosuch9") && r.stderr.contains("lo"), "\(r.stderr)")
    }
}
