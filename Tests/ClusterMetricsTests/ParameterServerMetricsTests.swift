import ClusterMetrics
import Optimizers
import ParameterServer
import Testing

/// The server's metrics fed by a real `KVServer` driven message by message (time is an input,
/// so round durations are exact).
@Suite("Parameter server metrics from KVServer's hooks")
struct ParameterServerMetricsTests {
    let server = KVServer(rank: 0, numWorkers: 2, timeouts: .init(heartbeat: 10, round: 60))
    let metrics = ParameterServerMetrics()

    init() throws {
        server.observer = metrics
        let setup = ServerSetup(mode: .sync, numWorkers: 2, optimizer: OptimizerConfig(kind: .sgd, learningRate: 0.5),
                                slices: [SliceSpec(key: 0, slice: 0, sliceCount: 1, count: 3)])
        _ = server.handle(try Message(header: MessageHeader(command: .configure, sender: 0), json: setup), from: PeerID("w0"), now: 0)
        _ = send([1, 2, 3], .initialize, round: 0, from: 0, now: 0)
    }

    @discardableResult
    func send(_ values: [Float], _ command: Command, round: UInt64, from rank: Int32, now: Double) -> [Outgoing] {
        let header = MessageHeader(command: command, key: 0, sender: rank, round: round)
        return server.handle(values.withUnsafeBufferPointer { Message(header: header, floats: $0) }, from: PeerID("w\(rank)"), now: now)
    }

    var scrape: PrometheusText { PrometheusText(metrics.registry.emitToString()) }

    @Test("rounds, their durations, workers heard from, and rejected pushes by reason")
    func roundsAndRejections() throws {
        send([1, 1, 1], .pushPull, round: 0, from: 0, now: 10)
        send([1, 1, 1], .pushPull, round: 0, from: 1, now: 10.75)  // round 0 took 0.75 s
        send([0, 0, 0], .pushPull, round: 1, from: 1, now: 20)
        send([0, 0, 0], .pushPull, round: 1, from: 1, now: 20.1)  // duplicate
        send([0, 0, 0], .pushPull, round: 5, from: 0, now: 20.2)  // wrong round
        send([0, 0], .pushPull, round: 1, from: 0, now: 20.3)  // wrong size
        send([0, 0, 0], .pushPull, round: 1, from: 0, now: 22)  // round 1 took 2 s
        send([0, 0, 0], .pushPull, round: 2, from: 7, now: 23)  // rank out of range
        let s = scrape
        #expect(s["ps_server_rounds_total"] == 2)
        #expect(s["ps_server_latest_round"] == 2)
        #expect(s["ps_server_round_duration_seconds_count"] == 2)
        #expect(s["ps_server_round_duration_seconds_sum"] == 2.75)
        #expect(s.buckets("ps_server_round_duration_seconds").first { $0.le == 1 }?.count == 1, "\(s.text)")
        #expect(s.isConsistentHistogram("ps_server_round_duration_seconds"))
        #expect(s["ps_server_workers_registered"] == 2)
        #expect(s["ps_server_pushes_rejected_total{reason=\"duplicate\"}"] == 1)
        #expect(s["ps_server_pushes_rejected_total{reason=\"wrong_round\"}"] == 1)
        #expect(s["ps_server_pushes_rejected_total{reason=\"wrong_size\"}"] == 1)
        #expect(s["ps_server_pushes_rejected_total{reason=\"not_admitted\"}"] == 1)
        #expect(s["ps_server_pushes_rejected_total{reason=\"non_finite\"}"] == 0)  // every reason is exposed, from 0
        #expect(s.text.contains("# HELP ps_server_rounds_total "))
    }

    @Test("a worker silent past the heartbeat timeout is counted dead")
    func deadWorker() {
        send([1, 1, 1], .pushPull, round: 0, from: 1, now: 1)
        _ = server.tick(now: 10.5)  // worker 0 last heard at 0
        #expect(scrape["ps_server_dead_workers_total"] == 1)
    }
}
