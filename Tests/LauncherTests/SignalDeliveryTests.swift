import Dispatch
import Foundation
import Glibc
import Launcher
import Testing

/// The cause of the rare ~20 s "server stall" after a worker's kill -9 in the fault trials
/// (docs/reliability.md): the launcher handed each signal to a task on Swift concurrency's shared
/// threads, and in a loaded test run those threads (one per core: two here) can all be held by
/// other tests' synchronous work for many seconds. The kill -9 then reached the worker only
/// when a thread came free — late enough that the trial's deadline killed worker 0 in the same
/// instant, and the server, rightly, named worker 0 (the lowest silent rank). The launcher now
/// sends a signal from the caller's thread; this test holds every shared thread while it does.
@Suite("ClusterLauncher signal delivery")
struct SignalDeliveryTests {
    /// Whether process `pid` has ended (a zombie not yet reaped, or gone).
    static func hasEnded(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    @Test("a signal reaches the child at once even while every thread of Swift concurrency's shared pool is held by other work")
    func signalWhileSharedThreadsAreBusy() async throws {
        let launcher = ClusterLauncher()
        let pid = try await launcher.start(ProcessSpec(name: "sleeper", executable: "/bin/sleep", arguments: ["60"]))
        // One blocker per core: the shared pool's width. Each holds its thread until released.
        let width = ProcessInfo.processInfo.activeProcessorCount
        let running = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        for _ in 0..<width {
            Task.detached { running.signal(); release.wait() }
        }
        // Everything that follows runs on a thread of its own (the shared ones are held).
        let (held, ended, seconds) = await withCheckedContinuation { (done: CheckedContinuation<(Int, Bool, Double), Never>) in
            Thread.detachNewThread {
                var held = 0
                // Not longer: other tests' tasks may hold a thread (then fewer are held here, and
                // the rest of the run waits for the blockers as long as they hold theirs).
                for _ in 0..<width where running.wait(timeout: .now() + 2) == .success { held += 1 }
                let start = DispatchTime.now()
                launcher.send(SIGKILL, to: "sleeper")
                var ended = Self.hasEnded(pid)
                while !ended, DispatchTime.now() < start + 3 {
                    usleep(10_000)
                    ended = Self.hasEnded(pid)
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
                for _ in 0..<width { release.signal() }
                done.resume(returning: (held, ended, seconds))
            }
        }
        print("kill -9 with \(held)/\(width) shared threads held: the child ended \(ended ? "after \(String(format: "%.3f", seconds)) s" : "not within 3 s")")
        #expect(ended, "the child still ran 3 s after send(SIGKILL): the signal waited for a shared thread")
        let result = await launcher.result(of: "sleeper", timeout: .seconds(20))
        #expect(result?.termination == .signaled(SIGKILL), "\(String(describing: result))")
    }
}
