import Foundation
import Subprocess
import SystemPackage

/// The one way this project starts and supervises processes — `ssd train`'s local cluster,
/// the tests' clusters and tools, the scaling benchmarks — on swift-subprocess.
///
/// - A child starts with default signal dispositions and an empty signal mask whatever the
///   launcher has (swift-subprocess resets both between fork and exec), so a launcher that
///   handles SIGINT itself, or a test runner that blocks it, still has children that stop on
///   SIGTERM.
/// - Output is read line by line: echoed as `[name] line` on the launcher's standard output
///   and/or kept for the result. Nothing can block on a full pipe.
/// - `wait(timeout:)` supervises: the launch completes when every `.worker` exited 0 (then
///   services get `serviceGrace` to exit on their own); the first failure, `interrupt()` or the
///   deadline stops everything — SIGTERM, then SIGKILL after `stopGrace`.
/// - Signals go through the process descriptor (pidfd) while the process runs, so a recycled
///   pid is never hit, and are sent by the caller's thread at once — never by a task that Swift
///   concurrency's shared threads, all busy in a loaded test run, could start seconds late.
public final class ClusterLauncher: @unchecked Sendable {
    /// Output handling and grace periods.
    public struct Options: Sendable {
        /// Print every line of every child as `[name] line` on this process's standard output.
        public var echo: Bool
        /// Keep each child's standard output and error for its `ProcessResult`.
        public var capture: Bool
        /// Between SIGTERM and SIGKILL when stopping.
        public var stopGrace: Duration
        /// How long services may take to exit on their own once every worker has exited 0.
        public var serviceGrace: Duration

        /// Options; the defaults capture output without echoing it.
        public init(echo: Bool = false, capture: Bool = true, stopGrace: Duration = .seconds(3), serviceGrace: Duration = .seconds(10)) {
            self.echo = echo; self.capture = capture; self.stopGrace = stopGrace; self.serviceGrace = serviceGrace
        }
    }

    /// One started process and what it has produced so far.
    private final class Entry {
        let spec: ProcessSpec
        var pid: pid_t?
        /// Sends a signal to the child; set while it runs (until its output ends).
        var deliver: ((Int32) -> Void)?
        /// Signals sent before the child ran, delivered once it does.
        var early: [Int32] = []
        var stdout = "", stderr = ""
        var result: ProcessResult?
        var waiters: [CheckedContinuation<ProcessResult, Never>] = []
        init(spec: ProcessSpec) { self.spec = spec }

        /// Sends `signal` now if the child runs, or once it does (call under the launcher's lock).
        func signal(_ signal: Int32) {
            if let deliver { deliver(signal) } else if pid == nil, result == nil { early.append(signal) }
        }
    }

    private enum Event { case exited, interrupted, deadline, serviceGraceOver }

    public let options: Options
    private let lock = NSLock()
    private let echoLock = NSLock()
    private var entries: [Entry] = []
    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation

    /// A launcher with nothing started yet.
    public init(options: Options = Options()) {
        self.options = options
        (events, eventSink) = AsyncStream<Event>.makeStream()
    }

    // MARK: Starting

    /// Starts `spec`; returns its pid once it runs, or throws `LauncherError.cannotStart`.
    @discardableResult
    public func start(_ spec: ProcessSpec) async throws(LauncherError) -> pid_t {
        let entry = Entry(spec: spec)
        locked { entries.append(entry) }
        let started: Result<pid_t, LauncherError> = await withCheckedContinuation { continuation in
            let gate = OneShot(continuation)
            Task { await self.execute(entry, started: gate) }
        }
        return try started.get()
    }

    /// Starts every process of `specs` in order (a scheduler before the nodes that register with it).
    public func start(_ specs: [ProcessSpec]) async throws(LauncherError) {
        for spec in specs { try await start(spec) }
    }

    private func execute(_ entry: Entry, started: OneShot<Result<pid_t, LauncherError>>) async {
        let spec = entry.spec
        var environment = ProcessInfo.processInfo.environment.merging(spec.environment) { $1 }
        for name in spec.unsetting { environment[name] = nil }
        var keys: [Environment.Key: String] = [:]
        for (name, value) in environment { if let key = Environment.Key(rawValue: name) { keys[key] = value } }
        var platform = PlatformOptions()
        // Used when this task is cancelled while the child runs.
        platform.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: options.stopGrace)]
        let termination: Termination
        do {
            let outcome = try await Subprocess.run(
                .path(FilePath(spec.executable)), arguments: Arguments(spec.arguments), environment: .custom(keys),
                platformOptions: platform, input: .none, output: .sequence, error: .sequence
            ) { execution in
                locked {
                    entry.pid = execution.processIdentifier.value
                    entry.deliver = { try? execution.send(signal: Signal(rawValue: $0)) }
                    for signal in entry.early { entry.deliver?(signal) }
                    entry.early = []
                }
                // Cleared before swift-subprocess closes the process descriptor.
                defer { locked { entry.deliver = nil } }
                started.resume(.success(execution.processIdentifier.value))
                async let out: Void = pump(execution.standardOutput, into: entry, isError: false)
                async let err: Void = pump(execution.standardError, into: entry, isError: true)
                _ = try await (out, err)
            }
            switch outcome.terminationStatus {
            case .exited(let code): termination = .exited(code)
            case .signaled(let signal): termination = .signaled(signal)
            }
        } catch {
            termination = .failedToStart("\(error)")
            started.resume(.failure(.cannotStart(name: spec.name, executable: spec.executable, reason: "\(error)")))
        }
        let waiters: [CheckedContinuation<ProcessResult, Never>] = locked {
            entry.result = ProcessResult(name: spec.name, part: spec.part, termination: termination, stdout: entry.stdout, stderr: entry.stderr)
            entry.early = []
            defer { entry.waiters = [] }
            return entry.waiters
        }
        let result = locked { entry.result! }
        for waiter in waiters { waiter.resume(returning: result) }
        eventSink.yield(.exited)
    }

    private func pump(_ lines: SubprocessOutputSequence, into entry: Entry, isError: Bool) async throws {
        for try await line in lines.strings(bufferingPolicy: .maxLineLength(1 << 20)) {
            if options.echo {
                echo(Data("[\(entry.spec.name)] \(line)\n".utf8))
            }
            if options.capture {
                locked {
                    if isError { entry.stderr += line + "\n" } else { entry.stdout += line + "\n" }
                }
            }
        }
    }

    /// Writes one whole line to standard output (lines of different children never interleave).
    private func echo(_ line: Data) {
        echoLock.lock(); defer { echoLock.unlock() }
        FileHandle.standardOutput.write(line)
    }

    // MARK: Watching and signalling single processes

    /// Whether the process called `name` was started and has not ended.
    public func isRunning(_ name: String) -> Bool {
        locked { entries.contains { $0.spec.name == name && $0.pid != nil && $0.result == nil } }
    }

    /// Sends `signal` to the process called `name` if it still runs.
    public func send(_ signal: Int32, to name: String) {
        locked { for e in entries where e.spec.name == name { e.signal(signal) } }
    }

    /// Sends `signal` to every process that still runs.
    public func sendToAll(_ signal: Int32) {
        locked { for e in entries { e.signal(signal) } }
    }

    /// What the process called `name` has printed so far.
    public func output(of name: String) -> (stdout: String, stderr: String) {
        locked { entries.first { $0.spec.name == name }.map { ($0.stdout, $0.stderr) } ?? ("", "") }
    }

    /// Waits for the process called `name` to end; after `timeout` it is killed (SIGKILL) and
    /// the result says so. Nil when no such process was started.
    public func result(of name: String, timeout: Duration) async -> ProcessResult? {
        guard let entry = locked({ entries.first { $0.spec.name == name } }) else { return nil }
        let killer = Task {
            try await Task.sleep(for: timeout)
            self.send(SIGKILL, to: name)
        }
        defer { killer.cancel() }
        return await withCheckedContinuation { continuation in
            let done: ProcessResult? = locked {
                if let r = entry.result { return r }
                entry.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    // MARK: Supervising the whole launch

    /// Asks every process to stop (SIGTERM, then SIGKILL after `stopGrace`); `wait` then reports
    /// `.interrupted`. Safe to call from a signal handler's queue.
    public func interrupt() { eventSink.yield(.interrupted) }

    /// Supervises the started processes until the launch ends (see the type's comment) and
    /// returns how; every process has ended when it returns. Call once.
    public func wait(timeout: Duration? = nil) async -> LaunchOutcome {
        var timers: [Task<Void, Never>] = []
        defer { timers.forEach { $0.cancel() } }
        func after(_ delay: Duration, _ event: Event) {
            timers.append(Task { [eventSink] in
                if (try? await Task.sleep(for: delay)) != nil { eventSink.yield(event) }
            })
        }
        if let timeout { after(timeout, .deadline) }
        var reason: LaunchOutcome.Reason?
        var stopping = false, graceStarted = false
        func stopAll() {
            guard !stopping else { return }
            stopping = true
            sendToAll(SIGTERM)
            timers.append(Task { [options] in
                guard (try? await Task.sleep(for: options.stopGrace)) != nil else { return }
                self.sendToAll(SIGKILL)
            })
        }
        eventSink.yield(.exited)  // look once even if everything ended before `wait` was called
        for await event in events {
            switch event {
            case .exited:
                let snapshot = locked { entries.map { ($0.spec, $0.result) } }
                if reason == nil, !stopping,
                   let failed = snapshot.first(where: { $0.1.map { !$0.termination.isSuccess } ?? false }) {
                    reason = .failed(name: failed.0.name, termination: failed.1!.termination)
                    stopAll()
                }
                let workersDone = snapshot.filter { $0.0.part == .worker }.allSatisfy { $0.1?.termination.isSuccess == true }
                if reason == nil, workersDone, !graceStarted {
                    graceStarted = true
                    after(options.serviceGrace, .serviceGraceOver)
                }
            case .interrupted:
                if reason == nil { reason = .interrupted }
                stopAll()
            case .deadline:
                if reason == nil { reason = .timedOut }
                stopAll()
            case .serviceGraceOver:
                stopAll()
            }
            let finished = locked { entries.allSatisfy { $0.result != nil } }
            if finished { break }
        }
        let results = locked { entries.compactMap(\.result) }
        return LaunchOutcome(reason: reason ?? .completed, results: results)
    }

    /// Runs one process to its end (output captured) under a deadline: then SIGTERM, and
    /// SIGKILL `stopGrace` later. The outcome's reason is `.timedOut` when the deadline passed.
    public static func run(_ spec: ProcessSpec, timeout: Duration, options: Options = Options()) async throws(LauncherError) -> LaunchOutcome {
        let launcher = ClusterLauncher(options: options)
        try await launcher.start(spec)
        return await launcher.wait(timeout: timeout)
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock(); defer { lock.unlock() }
        return try body()
    }
}

/// A continuation resumed at most once (the first value wins).
final class OneShot<T>: @unchecked Sendable {
    private var continuation: CheckedContinuation<T, Never>?
    private let lock = NSLock()
    init(_ continuation: CheckedContinuation<T, Never>) { self.continuation = continuation }

    func resume(_ value: T) {
        lock.lock(); let c = continuation; continuation = nil; lock.unlock()
        c?.resume(returning: value)
    }
}
