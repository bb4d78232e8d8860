import Foundation

/// Runs the jobs of the tasks that prefer it (`Task(executorPreference:)`, and their child
/// tasks) on one thread of its own, in order. A metrics endpoint runs on one, so it starts and
/// answers scrapes even while every thread of Swift concurrency's shared pool is busy (a test
/// run's CPU-bound tests; compute a program might put there). The thread lives as long as the
/// process: jobs may still arrive after the endpoint stopped.
@available(macOS 15.0, *)
final class ThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    /// Starts the thread, named `name` (as debuggers and `top -H` show it).
    init(name: String) {
        let thread = Thread { self.runJobs() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock(); jobs.append(job); condition.signal(); condition.unlock()
    }

    private func runJobs() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

/// Starts tasks on a `ThreadExecutor` of their own where the runtime has task executors
/// (Linux; macOS 15 and later), else on Swift concurrency's shared pool.
struct DedicatedTasks: Sendable {
    private let executor: (any Sendable)?

    /// Tasks that will run on a new thread named `name`.
    init(name: String) {
        if #available(macOS 15.0, *) { executor = ThreadExecutor(name: name) } else { executor = nil }
    }

    /// Starts a task running `body` (its child tasks run there too).
    func start(_ body: @escaping @Sendable () async -> Void) {
        if #available(macOS 15.0, *), let executor = executor as? ThreadExecutor {
            Task(executorPreference: executor) { await body() }
        } else {
            Task.detached { await body() }
        }
    }
}
