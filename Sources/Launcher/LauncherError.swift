import Foundation

/// What went wrong while starting processes, and what to do about it.
public enum LauncherError: Error, CustomStringConvertible, Equatable {
    /// The executable is missing or cannot be run.
    case cannotStart(name: String, executable: String, reason: String)
    /// No TCP port could be reserved on the loopback interface.
    case noLoopbackPort(errno: Int32)
    /// A cluster needs at least one worker and one server.
    case invalidCluster(servers: Int, workers: Int)

    public var description: String {
        switch self {
        case .cannotStart(let name, let executable, let reason):
            "could not start \(name) (\(executable)): \(reason); build it first (`swift build -c release`) or pass the right binary directory"
        case .noLoopbackPort(let errno):
            "no free TCP port on 127.0.0.1 (\(String(cString: strerror(errno)))); pass one explicitly (DMLC_PS_ROOT_PORT / -p)"
        case .invalidCluster(let servers, let workers):
            "a cluster needs >= 1 server and >= 1 worker, got \(servers) server(s) and \(workers) worker(s)"
        }
    }
}
