import Foundation

/// A parameter-server cluster on this machine as MXNet's launchers start one: one scheduler
/// and `servers` servers (`param-server`), and `workers` copies of the worker command, each
/// with the `DMLC_*` environment (`DMLC_ROLE`, `DMLC_PS_ROOT_URI`, `DMLC_PS_ROOT_PORT`,
/// `DMLC_NUM_SERVER`, `DMLC_NUM_WORKER`, and `DMLC_WORKER_ID` for workers).
/// Process names: `scheduler`, `server 0`…, `worker 0`….
public struct LocalCluster: Sendable {
    /// Where `param-server` and `worker` are.
    public var binDirectory: URL
    public var servers: Int
    public var workers: Int
    /// The scheduler's port on 127.0.0.1.
    public var port: Int
    /// Variables every process gets (on top of the launcher's environment).
    public var environment: [String: String] = [:]
    /// The scheduler's and servers' executable (default: `param-server` in `binDirectory`; the
    /// `worker` runs those roles too, by `DMLC_ROLE`, as MXNet's trackers expect).
    public var serverExecutable: String
    /// The worker executable (default: `worker` in `binDirectory`).
    public var workerExecutable: String
    /// Arguments of every worker.
    public var workerArguments: [String] = []
    /// Extra arguments for some workers, by rank.
    public var perWorkerArguments: [Int: [String]] = [:]
    /// Variables only workers get (e.g. `OPENBLAS_NUM_THREADS`).
    public var workerEnvironment: [String: String] = [:]

    /// A cluster whose scheduler listens on `port`, or on a free loopback port when nil.
    public init(binDirectory: URL, servers: Int, workers: Int, port: Int? = nil) throws(LauncherError) {
        guard servers >= 1, workers >= 1 else { throw .invalidCluster(servers: servers, workers: workers) }
        self.binDirectory = binDirectory
        self.servers = servers
        self.workers = workers
        if let port { self.port = port } else { self.port = try freeLoopbackPort() }
        serverExecutable = binDirectory.appendingPathComponent("param-server").path
        workerExecutable = binDirectory.appendingPathComponent("worker").path
    }

    /// The `DMLC_*` variables common to every role.
    public var clusterEnvironment: [String: String] {
        ["DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "\(port)", "DMLC_NUM_SERVER": "\(servers)", "DMLC_NUM_WORKER": "\(workers)"]
    }

    /// The scheduler, the servers and the workers, in the order they should start.
    public var processes: [ProcessSpec] {
        let common = environment.merging(clusterEnvironment) { $1 }
        let server = serverExecutable
        var specs = [ProcessSpec(name: "scheduler", executable: server, environment: common.merging(["DMLC_ROLE": "scheduler"]) { $1 },
                                 part: .service)]
        for s in 0..<servers {
            specs.append(ProcessSpec(name: "server \(s)", executable: server, environment: common.merging(["DMLC_ROLE": "server"]) { $1 },
                                     part: .service))
        }
        for w in 0..<workers {
            let env = common.merging(workerEnvironment) { $1 }.merging(["DMLC_ROLE": "worker", "DMLC_WORKER_ID": "\(w)"]) { $1 }
            specs.append(ProcessSpec(name: "worker \(w)", executable: workerExecutable,
                                     arguments: workerArguments + (perWorkerArguments[w] ?? []), environment: env, part: .worker))
        }
        return specs
    }
}
