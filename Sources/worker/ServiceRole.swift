import ClusterMetrics
import Foundation
import Logging
import ParameterServer

/// MXNet's launch convention: a tracker (launch.py, Kubeflow's MXJob, SageMaker) starts one
/// command for every node and puts the role in `DMLC_ROLE`. So `worker` started with
/// `DMLC_ROLE=scheduler` or `server` runs that role through `ClusterNode`, exactly as
/// `param-server` does (`DMLC_INTERFACE` included: `ClusterConfig` resolves it).
enum ServiceRole {
    /// Runs the scheduler or a server from `environment`; returns the exit status (README,
    /// "Exit status": 0 after the orderly end or a stop signal, 1 when the job failed, 2 for a
    /// configuration error). A server serves its metrics as `metrics` say.
    static func run(environment: [String: String], metrics settings: MetricsPortSettings?, logger: Logger) -> Int32 {
        let config: ClusterConfig
        do {
            config = try ClusterConfig.resolve(environment: environment)
        } catch {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8))
            return 2
        }
        let stop = StopFlag()
        let signals = stop.installSignalHandlers()
        defer { signals.forEach { $0.cancel() } }
        let metrics: (port: MetricsPort, metrics: ParameterServerMetrics)?
        do {
            metrics = try MetricsPort.openForServer(settings, role: config.role, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("worker: metrics port: \(error)\n".utf8))
            return 2
        }
        defer { metrics?.port.close(stop: stop) }
        do {
            if case .failed(let reason) = try ClusterNode.run(config: config, logger: logger, stopFlag: stop, observer: metrics?.metrics) {
                FileHandle.standardError.write(Data("worker: job failed: \(reason)\n".utf8))
                return 1
            }
        } catch {
            FileHandle.standardError.write(Data("worker: \(error)\n".utf8))
            return 1
        }
        return 0
    }
}
