import ArgumentParser
import ClusterMetrics
import Foundation
import Logging
import ParameterServer
import Tensor

/// `param-server`: a parameter server (or the cluster's scheduler) configured like an MXNet
/// ps-lite node, from `DMLC_*` variables and/or flags (flags win).
@main
struct ParamServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "param-server",
        abstract: "Parameter server / scheduler of a distributed SSD training job.",
        discussion: """
            Environment (MXNet names): DMLC_ROLE, DMLC_PS_ROOT_URI, DMLC_PS_ROOT_PORT, DMLC_NUM_SERVER, \
            DMLC_NUM_WORKER, DMLC_NODE_HOST (or DMLC_INTERFACE, whose IPv4 address is announced), DMLC_PORT, PS_HEARTBEAT_TIMEOUT, PS_ROUND_TIMEOUT, \
            PS_REGISTRATION_TIMEOUT, PS_NON_FINITE_GRADIENTS (reject | skip), PS_SECURE_DIR (CURVE keys from \
            `ssd keys`); or SageMaker's SM_HOSTS / \
            SM_CURRENT_HOST. Metrics: SSD_METRICS_PORT, SSD_METRICS_HOST, SSD_METRICS_LINGER (as the --metrics-* flags; \
            a server serves Prometheus text at GET /metrics, the scheduler none). Exit status: 0 after an orderly shutdown or signal, 1 when the job failed (dead or \
            stuck worker, timed-out round or barrier, incomplete cluster), 2 for a configuration error.
            """)

    @Option(help: "scheduler | server (DMLC_ROLE).") var role: String?
    @Option(help: "Scheduler host (DMLC_PS_ROOT_URI).") var rootURI: String?
    @Option(help: "Scheduler port (DMLC_PS_ROOT_PORT).") var rootPort: String?
    @Option(help: "Number of servers (DMLC_NUM_SERVER).") var numServers: String?
    @Option(help: "Number of workers (DMLC_NUM_WORKER).") var numWorkers: String?
    @Option(help: "Address this server advertises (DMLC_NODE_HOST).") var host: String?
    @Option(help: "Port this server binds, 0 = any (DMLC_PORT).") var port: String?
    @Option(help: "Seconds of silence before a worker is declared dead (PS_HEARTBEAT_TIMEOUT).") var heartbeatTimeout: String?
    @Option(help: "Seconds a sync round may wait for its last push (PS_ROUND_TIMEOUT).") var roundTimeout: String?
    @Option(help: "Seconds to wait for every node to register (PS_REGISTRATION_TIMEOUT).") var registrationTimeout: String?
    @Option(help: "reject | skip a gradient holding NaN or Inf (PS_NON_FINITE_GRADIENTS).") var nonFiniteGradients: String?
    @Option(help: "Authenticate and encrypt every connection with the CURVE keys of this directory, made by `ssd keys` (PS_SECURE_DIR).")
    var secure: String?
    @Flag(help: "Also run the scheduler in this process (server 0 of a small cluster).") var withScheduler = false
    @OptionGroup var metricsOptions: MetricsPortOptions

    func run() throws {
        // Freed messages stay in the heap for the next ones (ZeroMQ allocates every received
        // push itself): no page faults per push. Before any thread allocates.
        HeapPolicy.keepFreedMemoryForReuse(oneArena: true)
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "param-server")
        logger.logLevel = ProcessInfo.processInfo.environment["PS_VERBOSE"].flatMap(Int.init).map { $0 >= 1 ? .debug : .info } ?? .info
        var flags = ClusterFlags()
        flags.role = role; flags.rootURI = rootURI; flags.rootPort = rootPort; flags.numServers = numServers
        flags.numWorkers = numWorkers; flags.host = host; flags.port = port; flags.heartbeatTimeout = heartbeatTimeout
        flags.roundTimeout = roundTimeout; flags.registrationTimeout = registrationTimeout
        flags.nonFiniteGradients = nonFiniteGradients; flags.secure = secure
        let config: ClusterConfig
        let metricsSettings: MetricsPortSettings?
        do {
            config = try ClusterConfig.resolve(environment: ProcessInfo.processInfo.environment, flags: flags.asEnvironment)
            metricsSettings = try metricsOptions.settings(environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("param-server: \(error)\n".utf8))
            throw ExitCode(2)
        }
        if let keys = config.security { logger.info("secure: CURVE with the keys of \(keys.directory) (\(keys.authorized.count) authorised client key(s))") }
        let stop = StopFlag()
        let signals = stop.installSignalHandlers()
        defer { signals.forEach { $0.cancel() } }
        if config.role == .worker {
            FileHandle.standardError.write(Data("param-server: DMLC_ROLE=worker; start the `worker` executable for workers\n".utf8))
            throw ExitCode(2)
        }
        let metrics: (port: MetricsPort, metrics: ParameterServerMetrics)?
        do {
            metrics = try MetricsPort.openForServer(metricsSettings, role: config.role, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("param-server: metrics port: \(error)\n".utf8))
            throw ExitCode(2)
        }
        defer { metrics?.port.close(stop: stop) }
        do {
            if case .failed(let reason) = try ClusterNode.run(config: config, logger: logger, stopFlag: stop, withScheduler: withScheduler,
                                                              observer: metrics?.metrics) {
                FileHandle.standardError.write(Data("param-server: job failed: \(reason)\n".utf8))
                throw ExitCode(1)
            }
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("param-server: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
