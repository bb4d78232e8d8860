import Foundation
import Logging

/// Runs this process's scheduler or server role until the job ends: the one implementation
/// behind `param-server` and behind `worker` started with `DMLC_ROLE=scheduler|server` (MXNet's
/// launch convention: a tracker starts one command for every node).
public enum ClusterNode {
    /// How the role ended.
    public enum Outcome: Equatable, Sendable {
        /// Worker 0 shut the cluster down, or a stop signal arrived (exit status 0).
        case finished
        /// The job failed — a dead or stuck worker, a timed-out round or barrier (exit status 1).
        case failed(reason: String)
    }

    /// Runs `config.role`, which must be `.scheduler` or `.server` (workers run the training
    /// loop instead). With `withScheduler`, a server also runs the scheduler on a thread;
    /// `observer` (a server's metrics port) is told what the server does.
    public static func run(config: ClusterConfig, logger: Logger, stopFlag: StopFlag, withScheduler: Bool = false,
                           observer: (any KVServerObserver)? = nil) throws -> Outcome {
        precondition(config.role != .worker, "ClusterNode runs the scheduler and servers only")
        if config.role == .scheduler {
            do {
                try Rendezvous.runScheduler(config: config, logger: logger, stopFlag: stopFlag)
            } catch ClusterError.interrupted {
                logger.info("interrupted; stopped")
            }
            return .finished
        }
        if withScheduler {
            let schedulerLogger = Logger(label: "scheduler")
            Thread.detachNewThread {
                do { try Rendezvous.runScheduler(config: config, logger: schedulerLogger, stopFlag: stopFlag) } catch {
                    schedulerLogger.error("\(error)")
                    stopFlag.raise()
                }
            }
        }
        switch try ServerRunner(config: config, logger: logger, stopFlag: stopFlag, observer: observer).run() {
        case .shutdown:
            logger.info("shut down by worker 0")
            return .finished
        case .interrupted:
            logger.info("interrupted; stopped")
            return .finished
        case .failed(let reason):
            return .failed(reason: reason)
        }
    }
}
