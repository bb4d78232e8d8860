import Foundation
import Launcher

/// What a finished child process left: its exit status and its output.
public struct ScriptRun: Sendable {
    /// The exit status as a shell reports it (128 + N when stopped by signal N, 124 when the deadline passed).
    public var status: Int32
    public var stdout: String
    public var stderr: String

    /// A result from its parts.
    public init(status: Int32, stdout: String, stderr: String) { self.status = status; self.stdout = stdout; self.stderr = stderr }
}

/// Runs `bash script arguments…`; see `runProcess`.
public func runScript(_ script: String, _ arguments: [String], environment: [String: String] = [:],
                      timeout: Double) async throws -> ScriptRun {
    try await runProcess(URL(fileURLWithPath: "/bin/bash"), [script] + arguments, environment: environment, timeout: timeout)
}

/// Runs `executable` with `arguments` (and `environment` added to this process's) through the
/// `ClusterLauncher` under a deadline (`timeout` seconds × `deadlineScale`): then SIGTERM, so a
/// script's traps clean up, and SIGKILL three seconds later (the status is then 124). The child
/// starts with default signal dispositions even though the test runner blocks some.
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                       timeout: Double) async throws -> ScriptRun {
    let spec = ProcessSpec(name: executable.lastPathComponent, executable: executable.path, arguments: arguments, environment: environment)
    let outcome = try await ClusterLauncher.run(spec, timeout: .milliseconds(Int(scaledDeadline(timeout) * 1000)))
    let result = outcome.results[0]
    return ScriptRun(status: outcome.reason == .timedOut ? 124 : result.status, stdout: result.stdout, stderr: result.stderr)
}

/// The directory holding this package's built executables (next to the test bundle).
public var productsDirectory: URL {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    // Linux runs .build/<config>/SSDTrainerPackageTests.xctest; be tolerant of a bundle dir.
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    return dir
}

/// Pids of this package's `worker`, `param-server` and `ssd` processes whose environment holds
/// `variable=tag` (and `alsoHaving`, when given): a test tags what it launches, since other
/// suites run their own clusters from the same folder at the same time.
public func taggedProcesses(tag: String, variable: String = "SSD_TEST_TAG", alsoHaving: String? = nil) -> [pid_t] {
    let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return procs.compactMap { Int32($0) }.filter { pid in
        guard let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ"),
              let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let exe = String(decoding: cmd.prefix { $0 != 0 }, as: UTF8.self)
        let vars = Set(env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
        return (exe.hasSuffix("/worker") || exe.hasSuffix("/param-server") || exe.hasSuffix("/ssd"))
            && vars.contains("\(variable)=\(tag)") && alsoHaving.map { vars.contains($0) } ?? true
    }
}

/// Whether every tagged process (see `taggedProcesses`) is gone within eight seconds (× `deadlineScale`).
public func noProcessLeft(tag: String, variable: String = "SSD_TEST_TAG") async -> Bool {
    let deadline = ContinuousClock.now + scaledDeadline(.seconds(8))
    while !taggedProcesses(tag: tag, variable: variable).isEmpty && ContinuousClock.now < deadline {
        try? await Task.sleep(for: .milliseconds(100))
    }
    return taggedProcesses(tag: tag, variable: variable).isEmpty
}
