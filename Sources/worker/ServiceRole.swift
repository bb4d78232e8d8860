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
    /// configuration error).
    static func run(environment: [String: String], logger: Logger) -> Int32 {
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
        do {
            if case .failed(let reason) = try ClusterNode.run(config: config, logger: logger, stopFlag: stop) {
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
