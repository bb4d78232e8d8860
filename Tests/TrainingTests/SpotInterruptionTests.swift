import Detection
import Foundation
import TestSupport
import Testing
import Training

/// Managed spot training with a real `worker` process on the small SSD, one machine: SIGTERM
/// mid-epoch, the same command again, and the final model equals an uninterrupted run's, bit
/// for bit (fixed seed; augmentation and shuffling on).
@Suite("SIGTERM to a real worker", .serialized)
struct SpotInterruptionTests {
    let work: URL
    var data: String { work.appendingPathComponent("data").path }
    var worker: String { productsDirectory.appendingPathComponent("worker").path }

    init() {
        work = FileManager.default.temporaryDirectory.appendingPathComponent("sigterm-\(UUID().uuidString)")
    }

    /// The one command line both runs use (`name` picks the model and checkpoint directories).
    func command(_ name: String) -> [String] {
        ["--data-root", data, "--model-dir", work.appendingPathComponent(name).path,
         "--checkpoint-dir", work.appendingPathComponent(name + "-checkpoints").path, "--tiny-network",
         "--num_classes", "2", "--num_training_samples", "48", "--mini_batch_size", "1", "--epochs", "2",
         "--use_pretrained_model", "0", "--learning_rate", "0.003", "--seed", "7", "--blas-threads", "1", "--log-every", "1"]
    }

    func finalWeights(_ name: String) throws -> [MXNetParams.Array] {
        try MXNetParams.read(path: work.appendingPathComponent(name).appendingPathComponent(ModelArtifacts.paramsFile).path)
    }

    /// Runs `executable`, sends it SIGTERM once its standard error contains `line`, and waits at
    /// most 30 s after the signal (120 s before it) for its end; the exit status is 124 when it
    /// did not end in time (then it is killed).
    static func runAndSignal(_ executable: String, _ arguments: [String], when line: String) throws -> (status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let log = Log(), signalled = DispatchSemaphore(value: 0), ended = DispatchSemaphore(value: 0)
        let reader = Thread {
            var sent = false
            while case let chunk = pipe.fileHandleForReading.availableData, !chunk.isEmpty {
                log.append(chunk)
                if !sent, log.text.contains(line) {
                    kill(process.processIdentifier, SIGTERM)
                    sent = true
                    signalled.signal()
                }
            }
            ended.signal()
        }
        reader.start()
        let inTime = signalled.wait(timeout: .now() + 120) == .success && ended.wait(timeout: .now() + 30) == .success
        if !inTime { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return (inTime && process.terminationReason == .exit ? process.terminationStatus : 124, log.text)
    }

    /// Bytes read by the reader thread.
    final class Log: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        func append(_ chunk: Data) { lock.lock(); data += chunk; lock.unlock() }
        var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
    }

    @Test("SIGTERM mid-epoch: the step finishes, a complete checkpoint is written, exit 130 within 30 s; the same command resumes and ends with an uninterrupted run's weights")
    func sigtermMidEpochThenRestart() async throws {
        defer { try? FileManager.default.removeItem(at: work) }
        let synth = try await runProcess(productsDirectory.appendingPathComponent("ssd"),
                                         ["synth", "--output", data, "--num-classes", "2", "--train", "48", "--validation", "4",
                                          "--image-size", "64"], timeout: 120)
        try #require(synth.status == 0, "\(synth.stderr)")
        let full = try await runProcess(URL(fileURLWithPath: worker), command("full"), timeout: 300)
        try #require(full.status == 0, "\(full.stderr)")

        // The interrupted run: SIGTERM as soon as it has logged its first batch (48 per epoch).
        // A thread of its own reads the log and sends the signal, so a loaded machine's busy
        // test threads cannot delay it past the end of the run.
        let stopped = try Self.runAndSignal(worker, command("part"), when: "Epoch[0] Batch [")
        #expect(stopped.status == 130, "\(stopped.stderr)")
        #expect(stopped.stderr.contains("worker: SIGTERM: finishing the step in hand, then writing a checkpoint"), "\(stopped.stderr)")
        let checkpoints = work.appendingPathComponent("part-checkpoints").path
        let newest = try #require(CheckpointFiles.search(in: checkpoints).newest)
        #expect(stopped.stderr.contains("interrupted after \(newest.checkpoint.batch) batch(es) of epoch \(newest.checkpoint.epoch); checkpoint \(newest.checkpoint.manifest) is complete"),
                "\(stopped.stderr)")
        #expect(newest.checkpoint.epoch * 48 + newest.checkpoint.batch < 96 && newest.manifest.update == newest.checkpoint.epoch * 48 + newest.checkpoint.batch)

        // The same command again: it resumes from there and finishes.
        let resumed = try await runProcess(URL(fileURLWithPath: worker), command("part"), timeout: 300)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resumed from \(newest.checkpoint.manifest): epoch \(newest.checkpoint.epoch), batch \(newest.checkpoint.batch)"),
                "\(resumed.stderr)")
        // The next complete checkpoint supersedes the mid-epoch one, which is removed.
        #expect(CheckpointFiles.all(in: checkpoints).allSatisfy { $0.batch == 0 }, "\(CheckpointFiles.all(in: checkpoints))")
        #expect(resumed.stderr.contains("removed mid-epoch checkpoint \(newest.checkpoint.manifest)"), "\(resumed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: newest.checkpoint.params) && !FileManager.default.fileExists(atPath: newest.checkpoint.states))
        let (a, b) = (try finalWeights("full"), try finalWeights("part"))
        #expect(a.map(\.name) == b.map(\.name))
        for (x, y) in zip(a, b) { #expect(x.values == y.values, "\(x.name) differs after the resume") }
    }
}
