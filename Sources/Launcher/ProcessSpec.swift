import Foundation

/// One process of a launch: what to run, under which name its output and status are reported,
/// and what part it plays in deciding when the launch is over.
public struct ProcessSpec: Sendable {
    /// How a process's end relates to the launch's end.
    public enum Part: Sendable {
        /// The launch is done when every worker has exited 0 (a training worker, a tool run alone).
        case worker
        /// Serves the workers (scheduler, parameter server): expected to exit on its own once the
        /// workers are done, and stopped after `ClusterLauncher.Options.serviceGrace` otherwise.
        case service
    }

    /// The name in logs and outcomes, e.g. `worker 1` (a log line reads `[worker 1] …`).
    public var name: String
    /// Absolute path of the executable.
    public var executable: String
    public var arguments: [String]
    /// Variables set on top of the launcher's own environment.
    public var environment: [String: String]
    /// Variables removed from the inherited environment (e.g. `DMLC_ROLE` for a lone worker).
    public var unsetting: [String]
    public var part: Part

    /// A process to start; `environment` is added to (and overrides) the launcher's own.
    public init(name: String, executable: String, arguments: [String] = [], environment: [String: String] = [:],
                unsetting: [String] = [], part: Part = .worker) {
        self.name = name; self.executable = executable; self.arguments = arguments
        self.environment = environment; self.unsetting = unsetting; self.part = part
    }
}

/// How a process ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// The executable could not be started (missing, not executable); the text says why.
    case failedToStart(String)

    /// Whether the process exited with status 0.
    public var isSuccess: Bool { self == .exited(0) }

    /// The status a shell reports for it: the exit status, 128 + the signal number, or 127.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        case .failedToStart: 127
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal): "was stopped by \(signalName(signal))"
        case .failedToStart(let why): "could not start: \(why)"
        }
    }
}

/// `SIGTERM`, `SIGKILL`, … for the usual signal numbers, `signal N` otherwise.
func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGINT: "SIGINT"
    case SIGTERM: "SIGTERM"
    case SIGKILL: "SIGKILL"
    case SIGHUP: "SIGHUP"
    case SIGSEGV: "SIGSEGV"
    case SIGABRT: "SIGABRT"
    case SIGILL: "SIGILL"
    case SIGBUS: "SIGBUS"
    default: "signal \(signal)"
    }
}

/// What a finished process left: its end and (when captured) its output.
public struct ProcessResult: Sendable {
    public var name: String
    public var part: ProcessSpec.Part
    public var termination: Termination
    public var stdout: String
    public var stderr: String

    /// The exit status, as a shell reports it (see `Termination.shellStatus`).
    public var status: Int32 { termination.shellStatus }
}

/// How a launch ended, with every process's result in start order.
public struct LaunchOutcome: Sendable, CustomStringConvertible {
    /// Why the launch ended.
    public enum Reason: Sendable, Equatable {
        /// Every worker exited 0 (services exited or were stopped after the grace period).
        case completed
        /// This process failed first; the others were stopped.
        case failed(name: String, termination: Termination)
        /// `ClusterLauncher.interrupt()` was called (Ctrl-C, SIGTERM); every process was stopped.
        case interrupted
        /// The deadline given to `wait(timeout:)` passed; every process was stopped.
        case timedOut
    }

    public var reason: Reason
    public var results: [ProcessResult]

    /// The launcher's exit status: 0, the first failure's shell status, 130 when interrupted,
    /// 124 on a timeout (the values `timeout(1)` and shells use).
    public var exitStatus: Int32 {
        switch reason {
        case .completed: 0
        case .failed(_, let termination): max(1, termination.shellStatus)
        case .interrupted: 130
        case .timedOut: 124
        }
    }

    /// The result of the process called `name`, if it was started.
    public func result(_ name: String) -> ProcessResult? { results.first { $0.name == name } }

    public var description: String {
        let ends = results.map { "\($0.name) \($0.termination)" }.joined(separator: "; ")
        switch reason {
        case .completed: return "completed: \(ends)"
        case .failed(let name, let termination): return "\(name) \(termination); the others were stopped (\(ends))"
        case .interrupted: return "interrupted; every process was stopped (\(ends))"
        case .timedOut: return "timed out; every process was stopped (\(ends))"
        }
    }
}
