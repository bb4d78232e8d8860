import Dispatch
import Foundation
import ParameterServer
import Training

/// SIGTERM and SIGINT for the training worker (SageMaker's managed spot training and
/// `StopTrainingJob` send SIGTERM to every host, and SIGKILL later). Exit status 130 in every
/// case (README "Exit status"); a message on standard error says what was kept.
///
/// - Alone: the first signal raises `flag`; the trainer finishes the step in hand, writes a
///   checkpoint of where it stopped and ends (`CheckpointError.interrupted`). Should that not
///   be done `deadlineSeconds` after the signal (a very slow step), the worker stops anyway —
///   checkpoints are written atomically with their manifest last, so the newest complete one
///   is whole — and names it.
/// - In a cluster: every process gets the signal, the parameter servers stop at once, so the
///   step in hand cannot finish; the worker stops at once too, naming the newest complete
///   checkpoint (worker 0's last epoch).
/// - A second signal stops at once.
/// - Once training is over (`SignalCount.trainingOver`), a signal only raises `flag`: the
///   metrics port's linger waits on it and the worker exits 0.
enum StopSignals {
    /// Seconds from the first signal to the latest exit (SageMaker's Object Detection is given
    /// 30 s here; `ssd sagemaker-train` waits as long before SIGKILL).
    static let deadlineSeconds = 25

    /// Installs the handlers (keep the returned sources alive).
    static func install(flag: StopFlag, cluster: Bool, checkpointDirectory: String,
                        signals: SignalCount) -> [DispatchSourceSignal] {
        // A parent may have started this process with the signals blocked (the mask is inherited).
        var mask = sigset_t()
        sigemptyset(&mask); sigaddset(&mask, SIGINT); sigaddset(&mask, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        return [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                let name = sig == SIGTERM ? "SIGTERM" : "SIGINT"
                if signals.trainingOver { flag.raise(); return }
                if signals.next() > 1 { stop("\(name) again: stopping now", checkpointDirectory) }
                if cluster {
                    stop("\(name): a cluster worker stops at once (the parameter servers stop too, so the step in hand cannot finish)",
                         checkpointDirectory)
                }
                say("\(name): finishing the step in hand, then writing a checkpoint (at most \(deadlineSeconds) s)")
                flag.raise()
                DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(deadlineSeconds)) {
                    stop("the step and its checkpoint did not finish within \(deadlineSeconds) s of \(name): stopping now", checkpointDirectory)
                }
            }
            source.resume()
            return source
        }
    }

    /// Names the newest complete checkpoint and ends the process with status 130, whatever
    /// the other threads are doing (an unfinished checkpoint file is a temporary file the next
    /// start ignores).
    static func stop(_ reason: String, _ checkpointDirectory: String) -> Never {
        let newest = CheckpointFiles.search(in: checkpointDirectory, hashing: false).newest
        say(reason + "; " + (newest.map { "a restart resumes from \($0.checkpoint.manifest)" }
                             ?? "\(checkpointDirectory) holds no complete checkpoint of this worker, a restart starts from the beginning"))
        _exit(130)
    }

    static func say(_ line: String) { FileHandle.standardError.write(Data("worker: \(line)\n".utf8)) }

    /// Signals received so far (the handlers of SIGINT and SIGTERM may run at the same time),
    /// and whether training is over.
    final class SignalCount: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        private var over = false
        func next() -> Int { lock.lock(); defer { lock.unlock() }; count += 1; return count }
        var trainingOver: Bool {
            get { lock.lock(); defer { lock.unlock() }; return over }
            set { lock.lock(); over = newValue; lock.unlock() }
        }
    }
}
