import Foundation
import Glibc
import Launcher
import ParameterServer
import TestSupport
import Testing

/// Real processes on 127.0.0.1: a scheduler, servers and kv-probe workers per test.
@Suite("Loopback cluster (real processes)", .serialized)
struct LoopbackClusterTests {
    func expectClose(_ a: [Float], _ b: [Float], _ what: String) {
        #expect(a.count == b.count, "\(what)")
        for (x, y) in zip(a, b) { #expect(abs(x - y) <= 1e-5 + 1e-5 * abs(y), "\(what): \(a) vs \(b)") }
    }

    @Test("dist_sync: N workers × b equal one process with batch N·b after k steps", arguments: [
        (1, 2, "sgd"), (1, 3, "sgd"), (2, 2, "sgd"), (2, 3, "adam"),
    ])
    func effectiveBatch(servers: Int, workers: Int, optimizer: String) async throws {
        let cluster = try ProcessCluster(servers: servers, workers: workers)
        let args = ["--steps", "6", "--batch", "4", "--optimizer", optimizer, "--lr", "0.3", "--big-array-bound", "4"]
        try await cluster.startAll(probeArguments: args)
        let status = await cluster.waitAll(seconds: 60)
        for (name, s) in status { #expect(s == 0, "\(name) exited \(String(describing: s)): \(cluster.errors(name))") }
        let local = try await runLocalProbe(["--steps", "6", "--batch", "4", "--optimizer", optimizer, "--lr", "0.3",
                                       "--emulate-workers", "\(workers)"])
        for w in 0..<workers {
            let r = try decodeProbe(cluster.output("worker \(w)"))
            #expect(r.rank == w && r.workers == workers)
            expectClose(r.weights, local.weights, "\(servers) server(s), worker \(w) weights")
            expectClose([r.bias], [local.bias], "bias")
        }
    }

    @Test("dist_async converges and the server applies one update per push")
    func asyncConverges() async throws {
        let cluster = try ProcessCluster(servers: 1, workers: 2)
        try await cluster.startAll(probeArguments: ["--mode", "dist_async", "--steps", "30", "--batch", "16", "--lr", "0.5"])
        let status = await cluster.waitAll(seconds: 60)
        for (name, s) in status { #expect(s == 0, "\(name): \(cluster.errors(name))") }
        let r = try decodeProbe(cluster.output("worker 0"))
        let early = r.losses.prefix(5).reduce(0, +) / 5, late = r.losses.suffix(5).reduce(0, +) / 5
        #expect(late < early, "loss \(early) → \(late)")
        // 2 workers × 30 steps × 2 keys.
        #expect(cluster.errors("server 0").contains("shutdown after 120 optimizer update(s)"), "\(cluster.errors("server 0"))")
    }

    @Test("a key larger than the slice bound, split over 3 servers, round-trips bit-exactly")
    func keySlicing() async throws {
        let cluster = try ProcessCluster(servers: 3, workers: 1)
        try await cluster.startAll(probeArguments: ["--steps", "1", "--big-key", "10007", "--big-array-bound", "1000"])
        let status = await cluster.waitAll(seconds: 60)
        for (name, s) in status { #expect(s == 0, "\(name): \(cluster.errors(name))") }
        #expect(try decodeProbe(cluster.output("worker 0")).bigKeyRoundTrip == true)
        let layout = KeyLayout(counts: [2: 10007], numServers: 3, bigArrayBound: 1000)
        #expect(layout.loadPerServer == [3336, 3335, 3336])
    }

    @Test("a worker killed mid-run: the others and the server stop with a message naming its rank")
    func workerKilled() async throws {
        let cluster = try ProcessCluster(servers: 1, workers: 3)
        cluster.extraEnvironment = ["PS_HEARTBEAT_TIMEOUT": "2"]
        try await cluster.startAll(probeArguments: ["--steps", "200", "--step-delay", "0.05"])
        #expect(await cluster.waitUntilTraining(), "the cluster did not start training")
        #expect(cluster.isRunning("worker 1"))
        cluster.send(SIGKILL, to: "worker 1")
        for name in ["worker 0", "worker 2", "server 0"] {
            let s = await cluster.wait(name, seconds: 20)
            #expect(s != nil && s != 0, "\(name) should fail, got \(String(describing: s))")
            #expect(cluster.errors(name).contains("worker 1"), "\(name): \(cluster.errors(name))")
        }
    }

    @Test("a server killed: workers fail with a clear message instead of hanging")
    func serverKilled() async throws {
        let cluster = try ProcessCluster(servers: 1, workers: 2)
        cluster.extraEnvironment = ["PS_HEARTBEAT_TIMEOUT": "2"]
        try await cluster.startAll(probeArguments: ["--steps", "200", "--step-delay", "0.05", "--heartbeat-timeout", "2"])
        #expect(await cluster.waitUntilTraining(), "the cluster did not start training")
        cluster.send(SIGKILL, to: "server 0")
        for name in ["worker 0", "worker 1"] {
            let s = await cluster.wait(name, seconds: 20)
            #expect(s == 1, "\(name) exit \(String(describing: s))")
            #expect(cluster.errors(name).contains("server 0"), "\(name): \(cluster.errors(name))")
            #expect(cluster.errors(name).contains("stopped answering"), "\(name): \(cluster.errors(name))")
        }
    }

    @Test("garbage frames get an error reply and the server keeps serving")
    func garbageFrames() async throws {
        let cluster = try ProcessCluster(servers: 1, workers: 1)
        let serverPort = try freeLoopbackPort()
        try await cluster.start("scheduler", executable: "param-server", environment: ["DMLC_ROLE": "scheduler"])
        try await cluster.start("server 0", executable: "param-server", environment: ["DMLC_ROLE": "server", "DMLC_PORT": "\(serverPort)"])
        // The worker trains slowly while garbage arrives at the same server.
        try await cluster.start("worker 0", executable: "ssd", arguments: ["kv-probe", "--rank", "0", "--steps", "40", "--step-delay", "0.1"])
        let endpoint = "tcp://127.0.0.1:\(serverPort)"
        let probe = try ZeroMQTransport.connect(to: [endpoint])
        let codec = WireCodec()
        var badMagic = codec.encode(Message(header: MessageHeader(command: .push, sender: 0), payload: [0, 0, 128, 63]))
        badMagic[0][0] ^= 0xFF
        var badChecksum = codec.encode(Message(header: MessageHeader(command: .push, sender: 0), payload: [0, 0, 128, 63]))
        badChecksum[1][3] ^= 0x01
        let cases: [[[UInt8]]] = [
            [[1, 2, 3]],                                            // one short frame
            [[UInt8](repeating: 7, count: 40), []],                 // 40 bytes of garbage
            badMagic, badChecksum,
            codec.encode(Message(header: MessageHeader(command: .push, sender: 9), payload: [0, 0, 0, 0])),  // rank 9 of 1
            codec.encode(Message(header: MessageHeader(command: .push, key: 77, sender: 0), payload: [0, 0, 0, 0])),  // unknown key
            codec.encode(Message(header: MessageHeader(command: .push, key: 0, sender: 0, round: 999), payload: [0, 0, 0, 0])),  // wrong size / round
        ]
        // Wait (bounded) until worker 0 has configured the server, so its connections hold rank 0
        // and the probe's claims of rank 0 are refused as a second process's.
        #expect(await cluster.waitUntil("server 0", logs: "configured:"), "\(cluster.errors("server 0"))")
        var replies = 0
        for frames in cases {
            try probe.sendRaw(frames, to: PeerID(endpoint))
            if case .message(let m, _)? = try probe.receive(deadline: probe.now() + 10) {
                #expect((m.header.command == .error || m.header.isError) && !m.text.isEmpty, "\(m)")
                replies += 1
            }
        }
        #expect(replies == cases.count)
        let status = await cluster.waitAll(seconds: 60)
        for (name, s) in status { #expect(s == 0, "\(name): \(cluster.errors(name))") }
        // Weights unchanged by the garbage: the run equals a clean local run.
        let local = try await runLocalProbe(["--steps", "40"])
        let r = try decodeProbe(cluster.output("worker 0"))
        expectClose(r.weights, local.weights, "weights after garbage")
    }

    @Test("SIGTERM and SIGINT stop a waiting server and scheduler cleanly (exit 0)", arguments: [SIGTERM, SIGINT])
    func signals(_ sig: Int32) async throws {
        let cluster = try ProcessCluster(servers: 1, workers: 1)
        try await cluster.start("scheduler", executable: "param-server", environment: ["DMLC_ROLE": "scheduler"])
        try await cluster.start("server 0", executable: "param-server", environment: ["DMLC_ROLE": "server"])
        // Both are up (the server registered) and wait for the worker that never comes.
        #expect(await cluster.waitUntil("scheduler", logs: "registered server"))
        cluster.send(sig, to: "server 0")
        cluster.send(sig, to: "scheduler")
        #expect(await cluster.wait("server 0", seconds: 10) == 0, "\(cluster.errors("server 0"))")
        #expect(await cluster.wait("scheduler", seconds: 10) == 0, "\(cluster.errors("scheduler"))")
        #expect(cluster.errors("server 0").contains("interrupted"))
    }

    @Test("multi-host: scheduler, server and 3 workers in separate network namespaces (deploy/netns.sh) equal one machine",
          .enabled(if: networkNamespacesAvailable, "needs root and iproute2's ip netns (scripts/install-deps.sh installs iproute2)"))
    func networkNamespaces() async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let r = try await runScript(root.appendingPathComponent("deploy/netns.sh").path,
                              ["-n", "3", "-r", "1gbit", "-b", productsDirectory.path, "--",
                               productsDirectory.appendingPathComponent("ssd").path, "kv-probe", "--steps", "5", "--batch", "4"],
                              timeout: 90)
        #expect(r.status == 0, "\(r.stderr)")
        let results = try r.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }.map { try decodeProbe(String($0)) }
        #expect(results.count == 3)
        let local = try await runLocalProbe(["--steps", "5", "--batch", "4", "--emulate-workers", "3"])
        for r in results { expectClose(r.weights, local.weights, "worker \(r.rank) across namespaces") }
    }

    @Test("configuration errors exit 2 with a message naming the variable", arguments: [
        ([:] as [String: String], "DMLC_ROLE is not set"),
        (["DMLC_ROLE": "server", "DMLC_PS_ROOT_PORT": "70000"], "DMLC_PS_ROOT_PORT=70000"),
        (["DMLC_ROLE": "server", "DMLC_NUM_WORKER": "0"], "DMLC_NUM_WORKER=0"),
        (["DMLC_ROLE": "boss"], "DMLC_ROLE=boss"),
    ])
    func configurationErrors(environment: [String: String], message: String) async throws {
        let cluster = try ProcessCluster(servers: 1, workers: 1)
        var env = environment
        if env["DMLC_ROLE"] == nil { env["DMLC_ROLE"] = "" }
        try await cluster.start("server", executable: "param-server", environment: env)
        #expect(await cluster.wait("server", seconds: 20) == 2)
        #expect(cluster.errors("server").contains(message), "\(cluster.errors("server"))")
    }
}
