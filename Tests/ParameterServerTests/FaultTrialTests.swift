import Foundation
import Glibc
import Launcher
import ParameterServer
import TestSupport
import Testing

/// Point 1's fault trials with real processes on 127.0.0.1: kill -9 (a crash) and SIGSTOP (a
/// frozen process: no heartbeats) of a worker, a server and the scheduler before registration,
/// mid-round and during a barrier, and a worker alive but stuck in a barrier (a long
/// validation). Each trial checks every process's exit status and the verdict it prints — the
/// lost peer by role, rank and address, and what to do — and prints how long after the fault the
/// last process exited (the figures in docs/reliability.md).
///
/// Short deadlines keep each trial to seconds: heartbeats every 0.5 s, a peer dead after 2 s of
/// silence, and in the trials before registration, a roster within 10 s (elsewhere 30 s, so that
/// a slow start on a loaded machine is not a fault). `ssd kv-probe` is the worker (a logistic regression; the
/// same `KVClient` as the SSD trainer). The dist_async repetitions run with `make chaos` only.
@Suite("Fault trials (real processes, kill -9 and SIGSTOP)", .serialized)
struct FaultTrialTests {
    static let deadlines = ["PS_HEARTBEAT_INTERVAL": "0.5", "PS_HEARTBEAT_TIMEOUT": "2", "PS_REGISTRATION_TIMEOUT": "30",
                            "PS_ROUND_TIMEOUT": "30"]
    /// The nodes' registration deadline in the trials before registration.
    static let shortRegistration = ["PS_REGISTRATION_TIMEOUT": "10"]
    /// The most any process may take to exit after a fault: heartbeat timeout + registration
    /// timeout + the launcher's slack under load, far below the defaults' 30-120 s.
    static let bound = 30.0

    /// What one process must do after the fault: exit with `status`, its standard error holding
    /// every one of `says`.
    struct Expect {
        var status: Int32
        var says: [String] = []
    }

    /// A cluster of 1 server and 2 probe workers with the short deadlines (and `extra`).
    func makeCluster(_ extra: [String: String] = [:]) throws -> ProcessCluster {
        let cluster = try ProcessCluster(servers: 1, workers: 2)
        cluster.extraEnvironment = Self.deadlines.merging(extra) { $1 }
        return cluster
    }

    /// Waits (each at most `bound`) for the processes in `expected`, checks status and verdict,
    /// and returns the seconds from `fault` until the last of them exited.
    @discardableResult
    func expectExits(_ cluster: ProcessCluster, _ expected: [String: Expect], since fault: ContinuousClock.Instant,
                     trial: String) async -> Double {
        for (name, e) in expected.sorted(by: { $0.key < $1.key }) {
            let status = await cluster.wait(name, seconds: Self.bound)
            #expect(status == e.status, "\(trial): \(name) exited \(String(describing: status)), expected \(e.status): \(cluster.errors(name))")
            for text in e.says {
                #expect(cluster.errors(name).contains(text), "\(trial): \(name) should say “\(text)”: \(cluster.errors(name))")
            }
        }
        let elapsed = (ContinuousClock.now - fault).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        print("fault trial “\(trial)”: every process exited \(String(format: "%.1f", seconds)) s after the fault")
        return seconds
    }

    /// The scheduler's endpoint as the nodes name it.
    func schedulerEndpoint(_ cluster: ProcessCluster) -> String { "the scheduler at tcp://127.0.0.1:\(cluster.cluster.port)" }

    /// Worker `w` named by rank, process id and host (a worker listens on no port; its peers see
    /// it by host and pid).
    func workerName(_ w: Int) -> String { "worker \(w) (pid " }

    // MARK: - Before registration

    @Test("scheduler killed (kill -9) or frozen (SIGSTOP) after the server registered: every node stops naming the scheduler's address",
          .enabled(if: ProcessInfo.processInfo.environment["SSD_CHAOS"] == "1", "timing-sensitive on a loaded 2-core machine (docs/reliability.md, Open): runs with `make chaos` (SSD_CHAOS=1)"),
          arguments: [SIGKILL, SIGSTOP])
    func schedulerBeforeRegistration(_ signal: Int32) async throws {
        let cluster = try makeCluster(Self.shortRegistration)
        // The scheduler's own deadline runs from its start: for kill -9, longer than the nodes',
        // so that a slow start on a loaded machine cannot end it before the kill lands; frozen,
        // it must be past its deadline when thawed (else it could read the exited nodes'
        // registrations still queued in its kernel buffers).
        let schedulerDeadline = signal == SIGKILL ? "15" : "4"
        try await cluster.start("scheduler", executable: "param-server",
                                environment: ["DMLC_ROLE": "scheduler", "PS_REGISTRATION_TIMEOUT": schedulerDeadline])
        try await cluster.start("server 0", executable: "param-server", environment: ["DMLC_ROLE": "server"])
        #expect(await cluster.waitUntil("scheduler", logs: "registered server"), "\(cluster.errors("scheduler"))")
        cluster.send(signal, to: "scheduler")
        let fault = ContinuousClock.now
        for w in 0..<2 {
            try await cluster.start("worker \(w)", executable: "ssd", arguments: ["kv-probe", "--rank", "\(w)", "--steps", "5"])
        }
        let lost = Expect(status: 1, says: ["no roster from \(schedulerEndpoint(cluster))", "check that the scheduler runs"])
        await expectExits(cluster, ["server 0": lost, "worker 0": lost, "worker 1": lost], since: fault,
                          trial: "scheduler \(signal == SIGKILL ? "kill -9" : "SIGSTOP") before registration")
        if signal == SIGSTOP {
            // Thawed after its deadline, the scheduler reports the incomplete cluster and exits 1.
            cluster.send(SIGCONT, to: "scheduler")
            await expectExits(cluster, ["scheduler": Expect(status: 1, says: ["cluster incomplete", "0/2 worker(s) registered",
                                                                               "start the missing nodes"])],
                              since: ContinuousClock.now, trial: "scheduler thawed after SIGSTOP")
        } else {
            #expect(await cluster.wait("scheduler", seconds: 5) == nil, "kill -9 ends a process without a status")
        }
    }

    @Test("worker killed before it registers: the scheduler names the missing rank, the others time out naming the scheduler",
          .enabled(if: ProcessInfo.processInfo.environment["SSD_CHAOS"] == "1", "timing-sensitive on a loaded 2-core machine (docs/reliability.md, Open): runs with `make chaos` (SSD_CHAOS=1)"))
    func workerBeforeRegistration() async throws {
        let cluster = try makeCluster(Self.shortRegistration)
        try await cluster.start("scheduler", executable: "param-server", environment: ["DMLC_ROLE": "scheduler"])
        try await cluster.start("server 0", executable: "param-server", environment: ["DMLC_ROLE": "server"])
        try await cluster.start("worker 0", executable: "ssd", arguments: ["kv-probe", "--rank", "0", "--steps", "5"])
        let fault = ContinuousClock.now  // worker 1 never comes
        let lost = Expect(status: 1, says: ["no roster from \(schedulerEndpoint(cluster))"])
        await expectExits(cluster, ["scheduler": Expect(status: 1, says: ["1/2 worker(s) registered", "missing: worker rank 1",
                                                                          "start the missing nodes"]),
                                    "server 0": lost, "worker 0": lost],
                          since: fault, trial: "worker missing at registration")
    }

    @Test("server killed before it registers: the scheduler says 0/1 server(s), the workers time out naming the scheduler",
          .enabled(if: ProcessInfo.processInfo.environment["SSD_CHAOS"] == "1", "timing-sensitive on a loaded 2-core machine (docs/reliability.md, Open): runs with `make chaos` (SSD_CHAOS=1)"))
    func serverBeforeRegistration() async throws {
        let cluster = try makeCluster(Self.shortRegistration)
        try await cluster.start("scheduler", executable: "param-server", environment: ["DMLC_ROLE": "scheduler"])
        try await cluster.start("server 0", executable: "param-server", environment: ["DMLC_ROLE": "server", "DMLC_PS_ROOT_PORT": "1"])
        // This server dials a port where no scheduler listens; kill it before anything else starts.
        cluster.send(SIGKILL, to: "server 0")
        let fault = ContinuousClock.now
        for w in 0..<2 {
            try await cluster.start("worker \(w)", executable: "ssd", arguments: ["kv-probe", "--rank", "\(w)", "--steps", "5"])
        }
        let lost = Expect(status: 1, says: ["no roster from \(schedulerEndpoint(cluster))"])
        await expectExits(cluster, ["scheduler": Expect(status: 1, says: ["0/1 server(s) and 2/2 worker(s) registered"]),
                                    "worker 0": lost, "worker 1": lost],
                          since: fault, trial: "server missing at registration")
    }

    // MARK: - Mid-round

    @Test("worker killed (kill -9) or frozen (SIGSTOP) mid-round: the server and the other worker stop naming it",
          arguments: [SIGKILL, SIGSTOP])
    func workerMidRound(_ signal: Int32) async throws {
        let cluster = try makeCluster()
        try await cluster.startAll(probeArguments: ["--steps", "400", "--step-delay", "0.05"])
        #expect(await cluster.waitUntilTraining(), "the cluster did not start training: \(cluster.errors("worker 0"))")
        cluster.send(signal, to: "worker 1")
        let fault = ContinuousClock.now
        // Named with its pid and host once the server has heard from it; killed before its
        // first message reached the server, it is "worker 1, which never reached this server".
        let verdict = ["worker 1", "sent nothing for", "presumed dead", "restart the job with --resume"]
        let trial = "worker \(signal == SIGKILL ? "kill -9" : "SIGSTOP") mid-round"
        await expectExits(cluster, ["server 0": Expect(status: 1, says: verdict),
                                    "worker 0": Expect(status: 1, says: ["server 0 at tcp://127.0.0.1:"] + verdict)],
                          since: fault, trial: trial)
        if signal == SIGSTOP {
            // Thawed, the frozen worker learns the job is over and exits 1 naming its server.
            cluster.send(SIGCONT, to: "worker 1")
            await expectExits(cluster, ["worker 1": Expect(status: 1, says: ["server 0 at tcp://127.0.0.1:"])],
                              since: ContinuousClock.now, trial: "worker thawed after SIGSTOP")
        }
        #expect(await cluster.wait("scheduler", seconds: 5) == 0, "the scheduler ends after the rendezvous")
    }

    @Test("server killed (kill -9) or frozen (SIGSTOP) mid-round: every worker stops naming it by rank and address",
          arguments: [SIGKILL, SIGSTOP])
    func serverMidRound(_ signal: Int32) async throws {
        let cluster = try makeCluster()
        try await cluster.startAll(probeArguments: ["--steps", "400", "--step-delay", "0.05"])
        #expect(await cluster.waitUntilTraining(), "the cluster did not start training: \(cluster.errors("worker 0"))")
        cluster.send(signal, to: "server 0")
        let fault = ContinuousClock.now
        let verdict = Expect(status: 1, says: ["server 0 at tcp://127.0.0.1:", "stopped answering", "presumed dead",
                                               "restart the job with --resume"])
        await expectExits(cluster, ["worker 0": verdict, "worker 1": verdict], since: fault,
                          trial: "server \(signal == SIGKILL ? "kill -9" : "SIGSTOP") mid-round")
        if signal == SIGSTOP {
            // Thawed, the server finds its workers silent and stops the job (exit 1).
            cluster.send(SIGCONT, to: "server 0")
            await expectExits(cluster, ["server 0": Expect(status: 1, says: [workerName(0), "presumed dead"])],
                              since: ContinuousClock.now, trial: "server thawed after SIGSTOP")
        }
    }

    @Test("scheduler killed mid-round: nothing to lose — it ends by itself (exit 0) after the rendezvous, and training completes")
    func schedulerMidRound() async throws {
        let cluster = try makeCluster(["PS_HEARTBEAT_TIMEOUT": "30"])  // nothing is lost here: the defaults' tolerance
        try await cluster.startAll(probeArguments: ["--steps", "30", "--step-delay", "0.02"])
        #expect(await cluster.waitUntilTraining(), "the cluster did not start training: \(cluster.errors("worker 0"))")
        #expect(await cluster.wait("scheduler", seconds: 5) == 0, "the scheduler exits 0 once every node has its roster")
        cluster.send(SIGKILL, to: "scheduler")  // a no-op: nothing depends on it any more
        for name in ["server 0", "worker 0", "worker 1"] {
            #expect(await cluster.wait(name, seconds: Self.bound) == 0, "\(name): \(cluster.errors(name))")
        }
    }

    // MARK: - During a barrier

    /// Worker 0 trains one step and waits in the final barrier while worker 1 sleeps `pause`
    /// seconds after its step (worker 0 cannot pass the barrier before worker 1 arrives).
    func startBarrierCluster(_ cluster: ProcessCluster, pause: Int) async throws {
        try await cluster.startAll(probeArguments: ["--steps", "1"], perWorker: [1: ["--step-delay", "\(pause)"]])
        #expect(await cluster.waitUntilTraining(), "the cluster did not start training: \(cluster.errors("worker 0"))")
        // Settle: worker 0's one step takes milliseconds; then it is in the barrier.
        try await Task.sleep(for: .seconds(1))
        #expect(cluster.isRunning("worker 0"), "worker 0 passed the barrier alone: \(cluster.errors("worker 0"))")
    }

    @Test("worker killed (kill -9) or frozen (SIGSTOP) while the other waits in a barrier: both others stop naming it",
          arguments: [SIGKILL, SIGSTOP])
    func workerDuringBarrier(_ signal: Int32) async throws {
        let cluster = try makeCluster()
        try await startBarrierCluster(cluster, pause: 60)
        cluster.send(signal, to: "worker 1")
        let fault = ContinuousClock.now
        let verdict = [workerName(1), "presumed dead"]
        await expectExits(cluster, ["server 0": Expect(status: 1, says: verdict),
                                    "worker 0": Expect(status: 1, says: ["server 0 at tcp://127.0.0.1:"] + verdict)],
                          since: fault, trial: "worker \(signal == SIGKILL ? "kill -9" : "SIGSTOP") during a barrier")
    }

    @Test("server killed during a barrier: the waiting worker stops at once, the pausing one when it next needs the server")
    func serverDuringBarrier() async throws {
        let cluster = try makeCluster()
        // Worker 1 must still be in its pause at the kill: 3 s was shorter than forming the
        // cluster plus the settle on a loaded 2-core machine (both workers had finished).
        try await startBarrierCluster(cluster, pause: 8)
        #expect(cluster.isRunning("worker 1"), "worker 1 finished its pause before the fault: \(cluster.errors("worker 1"))")
        cluster.send(SIGKILL, to: "server 0")
        let fault = ContinuousClock.now
        let verdict = Expect(status: 1, says: ["server 0 at tcp://127.0.0.1:", "stopped answering"])
        await expectExits(cluster, ["worker 0": verdict, "worker 1": verdict], since: fault, trial: "server kill -9 during a barrier")
    }

    @Test("a worker alive but stuck (a long validation) past the barrier deadline: told apart from a dead one, every process stops")
    func stuckWorkerInBarrier() async throws {
        let cluster = try makeCluster(["PS_ROUND_TIMEOUT": "3"])
        let start = ContinuousClock.now
        try await startBarrierCluster(cluster, pause: 8)
        let stuck = [workerName(1), "alive (heartbeats arrive) but stuck", "raise PS_ROUND_TIMEOUT"]
        await expectExits(cluster, ["server 0": Expect(status: 1, says: ["barrier"] + stuck),
                                    "worker 0": Expect(status: 1, says: ["server 0 at tcp://127.0.0.1:"] + stuck),
                                    // It learns when its pause ends: the failure notice waits in its queue.
                                    "worker 1": Expect(status: 1, says: ["server 0 at tcp://127.0.0.1:", "stuck"])],
                          since: start, trial: "worker stuck (heartbeats, no barrier) — time from start, deadline 3 s")
    }

    // MARK: - dist_async (make chaos)

    @Test("dist_async: a worker or the server killed mid-run stops every process with the same verdicts",
          .enabled(if: ProcessInfo.processInfo.environment["SSD_CHAOS"] == "1", "the long matrix runs with `make chaos` (SSD_CHAOS=1)"),
          arguments: ["worker 1", "server 0"])
    func asyncKill(_ victim: String) async throws {
        let cluster = try makeCluster()
        try await cluster.startAll(probeArguments: ["--mode", "dist_async", "--steps", "400", "--step-delay", "0.05"])
        #expect(await cluster.waitUntilTraining(), "the cluster did not start training: \(cluster.errors("worker 0"))")
        cluster.send(SIGKILL, to: victim)
        let fault = ContinuousClock.now
        if victim == "worker 1" {
            // In dist_async the other worker need not wait for worker 1: it finishes its steps
            // or is stopped by the server's notice, whichever comes first; the server stops.
            await expectExits(cluster, ["server 0": Expect(status: 1, says: [workerName(1), "presumed dead"])],
                              since: fault, trial: "dist_async worker kill -9")
            let other = await cluster.wait("worker 0", seconds: Self.bound)
            #expect(other == 1 && cluster.errors("worker 0").contains(workerName(1)), "\(cluster.errors("worker 0"))")
        } else {
            let verdict = Expect(status: 1, says: ["server 0 at tcp://127.0.0.1:", "stopped answering"])
            await expectExits(cluster, ["worker 0": verdict, "worker 1": verdict], since: fault, trial: "dist_async server kill -9")
        }
    }
}
