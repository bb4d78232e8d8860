import Foundation
import Glibc
import ParameterServer
import TestSupport

/// Starts real `param-server` and `kv-probe` processes on 127.0.0.1 for a test, and makes
/// sure none outlives it: every process gets a hard timeout and is killed on `stopAll()`.
final class ProcessCluster {
    struct Node {
        let name: String
        let process: Process
        let stdout: URL
        let stderr: URL
    }

    let port: Int
    let servers: Int
    let workers: Int
    let directory: URL
    private(set) var nodes: [Node] = []
    var extraEnvironment: [String: String] = [:]

    init(servers: Int, workers: Int) throws {
        self.port = try freeLoopbackPort()
        self.servers = servers
        self.workers = workers
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ps-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        stopAll()
        try? FileManager.default.removeItem(at: directory)
    }

    /// The directory holding the built executables (next to the test bundle).
    static var productsDirectory: URL {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // Linux runs .build/<config>/SSDTrainerPackageTests.xctest; be tolerant of a bundle dir.
        if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
        return dir
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["DMLC_PS_ROOT_URI"] = "127.0.0.1"
        env["DMLC_PS_ROOT_PORT"] = String(port)
        env["DMLC_NUM_SERVER"] = String(servers)
        env["DMLC_NUM_WORKER"] = String(workers)
        env["PS_REGISTRATION_TIMEOUT"] = "30"
        for (k, v) in extraEnvironment { env[k] = v }
        return env
    }

    @discardableResult
    func start(_ name: String, executable: String, arguments: [String] = [], environment extra: [String: String] = [:]) throws -> Node {
        let p = Process()
        p.executableURL = Self.productsDirectory.appendingPathComponent(executable)
        p.arguments = arguments
        var env = environment
        for (k, v) in extra { env[k] = v }
        p.environment = env
        let out = directory.appendingPathComponent("\(name).out"), err = directory.appendingPathComponent("\(name).err")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        try p.run()
        let node = Node(name: name, process: p, stdout: out, stderr: err)
        nodes.append(node)
        return node
    }

    /// Scheduler + servers + workers (`kv-probe` with `probeArguments`).
    func startAll(probeArguments: [String], perWorker: [Int: [String]] = [:]) throws {
        try start("scheduler", executable: "param-server", environment: ["DMLC_ROLE": "scheduler"])
        for s in 0..<servers { try start("server\(s)", executable: "param-server", environment: ["DMLC_ROLE": "server"]) }
        for w in 0..<workers {
            try start("worker\(w)", executable: "kv-probe", arguments: ["--rank", "\(w)"] + probeArguments + (perWorker[w] ?? []))
        }
    }

    /// Waits for a node to exit (at most `seconds`); returns its status, or nil when it had to be killed.
    @discardableResult
    func wait(_ node: Node, seconds: Double = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while node.process.isRunning && Date() < deadline { usleep(20_000) }
        if node.process.isRunning {
            kill(node.process.processIdentifier, SIGKILL)
            node.process.waitUntilExit()
            return nil
        }
        return node.process.terminationStatus
    }

    func waitAll(seconds: Double = 60) -> [String: Int32?] {
        var result: [String: Int32?] = [:]
        for n in nodes { result[n.name] = wait(n, seconds: seconds) }
        return result
    }

    func node(_ name: String) -> Node { nodes.first { $0.name == name }! }

    func output(_ name: String) -> String { (try? String(contentsOf: node(name).stdout, encoding: .utf8)) ?? "" }
    func errors(_ name: String) -> String { (try? String(contentsOf: node(name).stderr, encoding: .utf8)) ?? "" }

    func stopAll() {
        for n in nodes where n.process.isRunning {
            kill(n.process.processIdentifier, SIGKILL)
            n.process.waitUntilExit()
        }
    }
}

/// Result JSON printed by kv-probe.
struct ProbeResult: Decodable {
    var rank: Int
    var workers: Int
    var weights: [Float]
    var bias: Float
    var losses: [Double]
    var bigKeyRoundTrip: Bool?
}

func decodeProbe(_ text: String) throws -> ProbeResult {
    try JSONDecoder().decode(ProbeResult.self, from: Data(text.utf8))
}

/// Runs `kv-probe --local` and returns its result.
func runLocalProbe(_ arguments: [String]) throws -> ProbeResult {
    let p = Process()
    p.executableURL = ProcessCluster.productsDirectory.appendingPathComponent("kv-probe")
    p.arguments = ["--local"] + arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return try JSONDecoder().decode(ProbeResult.self, from: data)
}
