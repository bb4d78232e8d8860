import Foundation

/// A process's part in the cluster (MXNet's `DMLC_ROLE`).
public enum Role: String, Codable, Sendable, CaseIterable {
    case scheduler, server, worker
}

/// Errors in the cluster configuration, each naming the variable or flag and the fix.
public enum ClusterConfigError: Error, CustomStringConvertible, Equatable {
    case missing(name: String, flag: String)
    case invalid(name: String, value: String, expected: String)
    /// `PS_SECURE_DIR` / `--secure` names keys that cannot be used.
    case keys(SecurityError)

    public var description: String {
        switch self {
        case let .missing(name, flag):
            return "\(name) is not set: set the environment variable \(name) or pass \(flag)"
        case let .invalid(name, value, expected):
            return "\(name)=\(value) is invalid: expected \(expected)"
        case .keys(let error):
            return "PS_SECURE_DIR / --secure: \(error)"
        }
    }
}

/// Where the cluster's scheduler is, how many servers and workers it has, and this
/// process's role — from MXNet's environment (`DMLC_*`), SageMaker's (`SM_HOSTS`,
/// `SM_CURRENT_HOST`) and flags (flags win).
public struct ClusterConfig: Equatable, Sendable {
    public var role: Role
    /// Scheduler host (`DMLC_PS_ROOT_URI`).
    public var rootURI: String
    /// Scheduler port (`DMLC_PS_ROOT_PORT`).
    public var rootPort: Int
    public var numServers: Int
    public var numWorkers: Int
    /// Address this node advertises to others (`DMLC_NODE_HOST`; default: the root URI when it
    /// is a loopback address, else this machine's host name).
    public var nodeHost: String
    /// Port a server binds (`PORT`/`DMLC_PORT`; 0 = any free port).
    public var nodePort: Int
    /// Worker rank asked for (`DMLC_WORKER_ID`), else assigned in order of arrival.
    public var requestedRank: Int?
    /// Seconds between heartbeats (`PS_HEARTBEAT_INTERVAL`, default 1).
    public var heartbeatInterval: Double
    /// Seconds of silence after which a peer is dead (`PS_HEARTBEAT_TIMEOUT`, default 30).
    public var heartbeatTimeout: Double
    /// Seconds to wait for every node to register (default 120).
    public var registrationTimeout: Double
    /// Seconds a sync round may wait for its last push (default 600).
    public var roundTimeout: Double
    /// Seconds a worker waits for the answer to one request (push, pull, barrier) from a server
    /// that still answers heartbeats (`PS_REQUEST_TIMEOUT`, default 600).
    public var requestTimeout: Double
    /// What a server does with a NaN/Inf gradient (`PS_NON_FINITE_GRADIENTS`: reject | skip; default reject).
    public var nonFiniteGradients: NonFiniteGradients
    /// The cluster's CURVE keys (`PS_SECURE_DIR` or `--secure DIR`): every socket then
    /// authenticates and encrypts; nil = ZeroMQ's NULL mechanism (no security).
    public var security: CurveKeys?
    /// The gradient compression of this worker's pushes (`PS_GRADIENT_COMPRESSION`: none | fp16 |
    /// bf16 | 2bit, `PS_COMPRESSION_THRESHOLD` for 2bit; default none). Every worker must agree.
    public var gradientCompression: GradientCompression = .none
    /// Workers: where this worker's training starts, told to the scheduler, which refuses a
    /// cluster whose workers would start from different positions (nil: not said).
    public var startPosition: StartPosition?
    /// Whether large payloads between a worker and a server on the same host go through shared
    /// memory (`PS_SHARED_MEMORY`: auto | off; default auto: used when a handshake proves both
    /// ends share this host's memory, never across hosts).
    public var sharedMemory = true

    /// Scheduler endpoint, e.g. `tcp://127.0.0.1:9091`.
    public var schedulerEndpoint: String { "tcp://\(rootURI):\(rootPort)" }

    /// Explicit configuration (tests and launchers).
    public init(role: Role, rootURI: String, rootPort: Int, numServers: Int, numWorkers: Int, nodeHost: String? = nil,
                nodePort: Int = 0, requestedRank: Int? = nil, heartbeatInterval: Double = 1, heartbeatTimeout: Double = 30,
                registrationTimeout: Double = 120, roundTimeout: Double = 600, requestTimeout: Double = 600,
                nonFiniteGradients: NonFiniteGradients = .reject, security: CurveKeys? = nil) {
        self.role = role; self.rootURI = rootURI; self.rootPort = rootPort
        self.numServers = numServers; self.numWorkers = numWorkers
        self.nodeHost = nodeHost ?? ClusterConfig.defaultHost(rootURI: rootURI)
        self.nodePort = nodePort; self.requestedRank = requestedRank
        self.heartbeatInterval = heartbeatInterval; self.heartbeatTimeout = heartbeatTimeout
        self.registrationTimeout = registrationTimeout; self.roundTimeout = roundTimeout; self.requestTimeout = requestTimeout
        self.nonFiniteGradients = nonFiniteGradients
        self.security = security
    }

    static func defaultHost(rootURI: String) -> String {
        if rootURI.hasPrefix("127.") || rootURI == "localhost" { return "127.0.0.1" }
        return ProcessInfo.processInfo.hostName
    }

    /// Resolves the configuration from `environment` with `flags` (same names as the
    /// variables, e.g. `DMLC_NUM_WORKER`) taking precedence. SageMaker's `SM_HOSTS` /
    /// `SM_CURRENT_HOST` fill what `DMLC_*` leaves open: the scheduler on the first host, one
    /// server and one worker per host.
    public static func resolve(environment: [String: String], flags: [String: String] = [:]) throws(ClusterConfigError) -> ClusterConfig {
        var env = environment
        for (k, v) in flags { env[k] = v }
        if let hostsJSON = env["SM_HOSTS"] {
            let parsed = try? JSONSerialization.jsonObject(with: Data(hostsJSON.utf8))
            guard let hosts = parsed as? [String], !hosts.isEmpty else {
                throw .invalid(name: "SM_HOSTS", value: hostsJSON, expected: "a non-empty JSON list of host names, e.g. [\"algo-1\",\"algo-2\"]")
            }
            let sorted = hosts.sorted()
            env["DMLC_PS_ROOT_URI"] = env["DMLC_PS_ROOT_URI"] ?? sorted[0]
            env["DMLC_PS_ROOT_PORT"] = env["DMLC_PS_ROOT_PORT"] ?? "9091"
            env["DMLC_NUM_SERVER"] = env["DMLC_NUM_SERVER"] ?? String(sorted.count)
            env["DMLC_NUM_WORKER"] = env["DMLC_NUM_WORKER"] ?? String(sorted.count)
            if let me = env["SM_CURRENT_HOST"], let index = sorted.firstIndex(of: me) {
                env["DMLC_NODE_HOST"] = env["DMLC_NODE_HOST"] ?? me
                env["DMLC_WORKER_ID"] = env["DMLC_WORKER_ID"] ?? String(index)
            }
        }
        // DMLC_INTERFACE (e.g. eth0): announce that interface's address unless DMLC_NODE_HOST names one.
        if let interface = env["DMLC_INTERFACE"], !interface.isEmpty, env["DMLC_NODE_HOST"] == nil {
            guard let address = NetworkInterfaces.ipv4Address(of: interface) else {
                throw .invalid(name: "DMLC_INTERFACE", value: interface,
                               expected: "an interface with an IPv4 address here (\(NetworkInterfaces.names().joined(separator: ", "))), or DMLC_NODE_HOST")
            }
            env["DMLC_NODE_HOST"] = address
        }
        func need(_ name: String, _ flag: String) throws(ClusterConfigError) -> String {
            guard let v = env[name], !v.isEmpty else { throw .missing(name: name, flag: flag) }
            return v
        }
        func int(_ name: String, _ flag: String, _ range: ClosedRange<Int>, _ expected: String) throws(ClusterConfigError) -> Int {
            let v = try need(name, flag)
            guard let n = Int(v.trimmingCharacters(in: .whitespaces)), range.contains(n) else {
                throw .invalid(name: name, value: v, expected: expected)
            }
            return n
        }
        func seconds(_ name: String, _ fallback: Double) throws(ClusterConfigError) -> Double {
            guard let v = env[name] else { return fallback }
            guard let s = Double(v), s > 0 else { throw .invalid(name: name, value: v, expected: "a positive number of seconds") }
            return s
        }
        let roleText = try need("DMLC_ROLE", "--role")
        guard let role = Role(rawValue: roleText) else {
            throw .invalid(name: "DMLC_ROLE", value: roleText, expected: "one of scheduler, server, worker")
        }
        let root = try need("DMLC_PS_ROOT_URI", "--root-uri")
        let port = try int("DMLC_PS_ROOT_PORT", "--root-port", 1...65535, "a port number in 1...65535")
        let servers = try int("DMLC_NUM_SERVER", "--num-servers", 1...4096, "a whole number of servers >= 1")
        let workers = try int("DMLC_NUM_WORKER", "--num-workers", 1...4096, "a whole number of workers >= 1")
        var nodePort = 0
        if let p = env["DMLC_PORT"] ?? env["PORT"] {
            guard let n = Int(p), (0...65535).contains(n) else { throw .invalid(name: "DMLC_PORT", value: p, expected: "a port number in 0...65535") }
            nodePort = n
        }
        var requested: Int?
        if let r = env["DMLC_WORKER_ID"] {
            guard let n = Int(r), n >= 0, n < workers else {
                throw .invalid(name: "DMLC_WORKER_ID", value: r, expected: "a rank in 0..<\(workers)")
            }
            requested = n
        }
        var heartbeatInterval = try seconds("PS_HEARTBEAT_INTERVAL", 1)
        if env["PS_HEARTBEAT_INTERVAL"] == "0" { heartbeatInterval = 1 }
        var nonFinite = NonFiniteGradients.reject
        if let v = env["PS_NON_FINITE_GRADIENTS"] {
            guard let policy = NonFiniteGradients(rawValue: v) else {
                throw .invalid(name: "PS_NON_FINITE_GRADIENTS", value: v, expected: "reject or skip")
            }
            nonFinite = policy
        }
        var security: CurveKeys?
        if let dir = env["PS_SECURE_DIR"], !dir.isEmpty {
            do { security = try CurveKeys.load(directory: dir) } catch { throw .keys(error) }
        }
        var compression = GradientCompression.none
        if let kind = env["PS_GRADIENT_COMPRESSION"], !kind.isEmpty {
            do {
                compression = try GradientCompression.parse(kind: kind, threshold: env["PS_COMPRESSION_THRESHOLD"], source: "PS_GRADIENT_COMPRESSION")
            } catch {
                throw .invalid(name: error.isThreshold ? "PS_COMPRESSION_THRESHOLD" : "PS_GRADIENT_COMPRESSION",
                               value: error.isThreshold ? env["PS_COMPRESSION_THRESHOLD"] ?? "" : kind,
                               expected: error.isThreshold ? "a positive number (default 0.5)" : "none, fp16, bf16 or 2bit")
            }
        }
        var config = ClusterConfig(role: role, rootURI: root, rootPort: port, numServers: servers, numWorkers: workers,
                             nodeHost: env["DMLC_NODE_HOST"], nodePort: nodePort, requestedRank: requested,
                             heartbeatInterval: heartbeatInterval, heartbeatTimeout: try seconds("PS_HEARTBEAT_TIMEOUT", 30),
                             registrationTimeout: try seconds("PS_REGISTRATION_TIMEOUT", 120),
                             roundTimeout: try seconds("PS_ROUND_TIMEOUT", 600),
                             requestTimeout: try seconds("PS_REQUEST_TIMEOUT", 600), nonFiniteGradients: nonFinite,
                             security: security)
        config.gradientCompression = compression
        if let v = env["PS_SHARED_MEMORY"], !v.isEmpty {
            switch v.lowercased() {
            case "auto", "on", "1": config.sharedMemory = true
            case "off", "0": config.sharedMemory = false
            default: throw .invalid(name: "PS_SHARED_MEMORY", value: v, expected: "auto (the default) or off")
            }
        }
        return config
    }
}

/// What a node tells the scheduler when it joins.
public struct Registration: Codable, Equatable, Sendable {
    public var role: Role
    /// For servers: the endpoint workers connect to.
    public var endpoint: String?
    public var requestedRank: Int?
    /// For workers: the gradient compression it pushes with; the scheduler refuses workers that differ.
    public var compression: GradientCompression? = nil
    /// For workers: where its training starts (a resumed checkpoint's position, or the
    /// beginning); the scheduler refuses a cluster whose workers differ. Nil: not said (not compared).
    public var startPosition: StartPosition? = nil
}

/// Where a worker's training starts: epochs completed, batches of the next one done, optimizer
/// updates done — all zero for a fresh start.
public struct StartPosition: Codable, Hashable, Sendable, CustomStringConvertible {
    public var epoch: Int
    public var batch: Int
    public var update: Int

    public init(epoch: Int = 0, batch: Int = 0, update: Int = 0) { self.epoch = epoch; self.batch = batch; self.update = update }

    public var description: String { "epoch \(epoch), batch \(batch), update \(update)" }
}

/// What a worker tells the servers about itself in its heartbeats, so their logs name it by
/// where a person finds it.
public struct WorkerIdentity: Codable, Equatable, Sendable {
    /// The host the worker runs on (`DMLC_NODE_HOST` or the machine's name).
    public var host: String
    public var pid: Int32

    public init(host: String, pid: Int32) { self.host = host; self.pid = pid }
}

/// The scheduler's answer once every node has joined.
public struct Roster: Codable, Equatable, Sendable {
    /// This node's rank within its role.
    public var rank: Int
    /// Server endpoints, index = server rank.
    public var servers: [String]
    public var numWorkers: Int
}

/// Seconds on a monotonic clock.
public enum MonotonicClock {
    /// Now, in seconds since an arbitrary origin.
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
