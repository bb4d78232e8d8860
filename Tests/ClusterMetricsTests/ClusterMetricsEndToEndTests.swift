import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Launcher
import Logging
import ParameterServer
import MetricsHTTP
import Prometheus
import TestSupport
import Testing

/// `param-server` and `worker` as real processes on 127.0.0.1 with their metrics ports, scraped
/// over HTTP while they train and — they linger — after: what one process counts must agree
/// with what the others count.
@Suite("Metrics ports of a real cluster", .serialized)
struct ClusterMetricsEndToEndTests {
    let work: URL

    init() async throws {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-metrics-\(UUID().uuidString)")
        let synth = try await runProcess(productsDirectory.appendingPathComponent("ssd"),
                                         ["synth", "--output", work.appendingPathComponent("data").path, "--num-classes", "2",
                                          "--train", "8", "--validation", "2", "--image-size", "64"], timeout: 60)
        guard synth.status == 0 else { throw SetupFailure(step: "ssd synth", output: synth.stderr) }
    }

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        return URLSession(configuration: configuration)
    }()

    /// One scrape of `GET /metrics` on 127.0.0.1:`port`; a failure carries `logs()`.
    func scrape(_ port: Int, logs: () -> String) async throws -> PrometheusText {
        do {
            let (data, response) = try await Self.session.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            return PrometheusText(String(decoding: data, as: UTF8.self))
        } catch {
            throw SetupFailure(step: "GET http://127.0.0.1:\(port)/metrics", output: "\(error)\n\(logs())")
        }
    }

    /// Polls (at most `seconds`) until `condition` holds for `name`'s standard error; its text then.
    func waitForLog(_ launcher: ClusterLauncher, _ name: String, seconds: Double = 120,
                    _ condition: (String) -> Bool) async -> String? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            let text = launcher.output(of: name).stderr
            if condition(text) { return text }
            if !launcher.isRunning(name) { return condition(launcher.output(of: name).stderr) ? text : nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    /// The port a process logged as `metrics: http://127.0.0.1:PORT/metrics`.
    func metricsPort(in log: String) -> Int? {
        guard let match = log.firstMatch(of: #/metrics: http://127\.0\.0\.1:(\d+)/metrics/#) else { return nil }
        return Int(match.1)
    }

    @Test("1 server + 2 dist_sync workers: steps, rounds, bytes and histograms agree across the processes; SIGTERM ends the linger with status 0")
    func clusterMetricsAgree() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        var cluster = try LocalCluster(binDirectory: productsDirectory, servers: 1, workers: 2)
        cluster.environment = ["PS_REGISTRATION_TIMEOUT": "60"]
        // 8 images, 2 workers, batch 2 per worker, 2 epochs: 2 steps per epoch and worker, 4 in all.
        let steps = 4.0
        cluster.workerArguments = ["--data-root", work.appendingPathComponent("data").path, "--model-dir", work.appendingPathComponent("m").path,
                                   "--tiny-network", "--num_classes", "2", "--num_training_samples", "8", "--use_pretrained_model", "0",
                                   "--epochs", "2", "--mini_batch_size", "2", "--kv_store", "dist_sync", "--blas-threads", "1",
                                   "--metrics-port", "0", "--metrics-host", "127.0.0.1", "--metrics-linger", "120"]
        // The server gets its metrics port the way a DMLC_ROLE launcher passes it: the environment.
        let processes = cluster.processes.map { spec -> ProcessSpec in
            guard spec.name == "server 0" else { return spec }
            var s = spec
            s.environment.merge(["SSD_METRICS_PORT": "0", "SSD_METRICS_HOST": "127.0.0.1", "SSD_METRICS_LINGER": "120"]) { $1 }
            return s
        }
        let launcher = ClusterLauncher()
        try await launcher.start(processes)
        defer { launcher.sendToAll(SIGKILL) }
        let names = ["server 0", "worker 0", "worker 1"]
        var ports: [String: Int] = [:]
        for name in names {
            let log = await waitForLog(launcher, name, seconds: 60) { metricsPort(in: $0) != nil }
            ports[name] = try #require(log.flatMap(metricsPort), "\(name) logged no metrics port: \(launcher.output(of: name).stderr)")
        }

        let logs = { names.map { "[\($0)] \(launcher.output(of: $0).stderr)" }.joined(separator: "\n") }
        // While training: a scrape is a consistent snapshot of one process.
        var during = try await scrape(ports["worker 0"]!, logs: logs)
        let deadline = ContinuousClock.now + .seconds(120)
        while (during["ssd_train_steps_total"] ?? 0) < 1, launcher.isRunning("worker 0"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            during = try await scrape(ports["worker 0"]!, logs: logs)
        }
        try #require((during["ssd_train_steps_total"] ?? 0) >= 1, "no step within 120 s: \(logs())")
        #expect(during.isConsistentHistogram("ps_worker_round_trip_seconds"))

        // After training: every process lingers with its final values.
        for name in names {
            let log = await waitForLog(launcher, name) { $0.contains("serving the final values") }
            try #require(log != nil, "\(name) did not finish: \(logs())")
        }
        let server = try await scrape(ports["server 0"]!, logs: logs)
        let workers = [try await scrape(ports["worker 0"]!, logs: logs), try await scrape(ports["worker 1"]!, logs: logs)]

        for (rank, w) in workers.enumerated() {
            #expect(w["ssd_train_steps_total"] == steps, "worker \(rank): \(w.text)")
            #expect(w["ssd_train_images_total"] == steps * 2)
            #expect((w["ssd_train_images_per_second"] ?? 0) > 0)
            #expect(w["ssd_train_epoch"] == 1)
            #expect((w["ssd_train_cross_entropy"] ?? .nan) > 0 && (w["ssd_train_smooth_l1"] ?? .nan) >= 0)
            #expect((w["ssd_train_waiting_seconds_total"] ?? 0) > 0)
            #expect((w["ps_worker_pushed_bytes_total"] ?? 0) > 0 && (w["ps_worker_pulled_bytes_total"] ?? 0) > 0)
            // At least one answered request per step (the loss counts) and a consistent histogram.
            #expect((w["ps_worker_round_trip_seconds_count"] ?? 0) >= steps)
            #expect(w.isConsistentHistogram("ps_worker_round_trip_seconds"), "\(w.text)")
            #expect(w["ps_worker_dead_servers_total"] == 0)
        }
        #expect(workers[0]["ssd_train_steps_total"]! >= during["ssd_train_steps_total"]!)
        let mAP = try #require(workers[0]["ssd_validation_map"])
        #expect(mAP >= 0 && mAP <= 1)

        // dist_sync: the server applied exactly the workers' steps, one round per slice and step.
        #expect(server["ps_server_latest_round"] == steps, "\(server.text)")
        let rounds = try #require(server["ps_server_rounds_total"])
        #expect(rounds >= steps && rounds.truncatingRemainder(dividingBy: steps) == 0)
        #expect(server["ps_server_round_duration_seconds_count"] == rounds)
        #expect(server.isConsistentHistogram("ps_server_round_duration_seconds"), "\(server.text)")
        // What the workers sent and received passed through the server (which counts headers too).
        let pushed = workers.map { $0["ps_worker_pushed_bytes_total"]! }.reduce(0, +)
        let pulled = workers.map { $0["ps_worker_pulled_bytes_total"]! }.reduce(0, +)
        #expect(server["ps_server_received_bytes_total"]! > pushed)
        #expect(server["ps_server_sent_bytes_total"]! > pulled)
        #expect(server["ps_server_workers_registered"] == 2)
        #expect(server["ps_server_dead_workers_total"] == 0)
        let rejected = server.samples.filter { $0.key.hasPrefix("ps_server_pushes_rejected_total{") }
        #expect(rejected.count == PushRejection.allCases.count && rejected.values.allSatisfy { $0 == 0 }, "\(rejected)")

        // SIGTERM ends the linger at once, with status 0.
        for name in names { launcher.send(SIGTERM, to: name) }
        for name in names {
            let result = await launcher.result(of: name, timeout: .seconds(20))
            #expect(result?.termination == .exited(0), "\(name): \(result.map { "\($0.termination) \($0.stderr)" } ?? "not started")")
        }
    }

    @Test("a metrics port already in use is a configuration error (exit 2) naming the port, before anything starts",
          arguments: ["param-server", "worker"])
    func portInUse(executable: String) async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let holder = try await withCheckedThrowingContinuation { (c: CheckedContinuation<MetricsServer, any Error>) in
            Thread {
                c.resume(with: Result {
                    try MetricsServer.start(registry: PrometheusCollectorRegistry(), host: "127.0.0.1", port: 0, logger: Logger(label: "holder"))
                })
            }.start()
        }
        defer { Thread { holder.stop() }.start() }
        let metricsFlags = ["--metrics-port", "\(holder.port)", "--metrics-host", "127.0.0.1"]
        let r: ScriptRun
        if executable == "param-server" {
            // A server role of a cluster whose scheduler never answers: it must stop at the port, not at registration.
            r = try await runProcess(productsDirectory.appendingPathComponent("param-server"), metricsFlags,
                                     environment: ["DMLC_ROLE": "server", "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "\(try freeLoopbackPort())",
                                                   "DMLC_NUM_SERVER": "1", "DMLC_NUM_WORKER": "1", "PS_REGISTRATION_TIMEOUT": "60"], timeout: 30)
        } else {
            r = try await runProcess(productsDirectory.appendingPathComponent("worker"),
                                     metricsFlags + ["--num_classes", "1", "--num_training_samples", "1", "--use_pretrained_model", "0",
                                                     "--data-root", work.appendingPathComponent("no-such-data").path,
                                                     "--model-dir", work.appendingPathComponent("m").path], timeout: 30)
        }
        #expect(r.status == 2, "\(r.stderr)")
        #expect(r.stderr.contains("metrics port: cannot listen on 127.0.0.1:\(holder.port): the port is already in use"), "\(r.stderr)")
    }
}

/// A step of a test's set-up or scrape that failed (its output says why).
struct SetupFailure: Error, CustomStringConvertible {
    var step: String
    var output: String
    var description: String { "\(step) failed: \(output)" }
}
