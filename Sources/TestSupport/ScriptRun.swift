import Foundation

/// What a finished child process left: its exit status and its output.
public struct ScriptRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `bash script arguments…`; see `runProcess`.
public func runScript(_ script: String, _ arguments: [String], timeout: Double) throws -> ScriptRun {
    try runProcess(URL(fileURLWithPath: "/bin/bash"), [script] + arguments, timeout: timeout)
}

/// Runs `executable` with `arguments` (and `environment` added to this process's) under a
/// deadline: then SIGTERM, so a script's traps clean up, and SIGKILL two seconds later.
/// Output goes through temporary files, so a chatty child can never block on a full pipe.
public func runProcess(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                       timeout: Double) throws -> ScriptRun {
    let p = Process()
    p.executableURL = executable
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let dir = FileManager.default.temporaryDirectory
    let out = dir.appendingPathComponent("script-\(UUID().uuidString).out"), err = dir.appendingPathComponent("script-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
    p.standardOutput = try FileHandle(forWritingTo: out)
    p.standardError = try FileHandle(forWritingTo: err)
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(50_000) }
    if p.isRunning {
        p.terminate()
        let grace = Date().addingTimeInterval(2)
        while p.isRunning && Date() < grace { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
    p.waitUntilExit()
    return ScriptRun(status: p.terminationStatus, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                     stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
}
