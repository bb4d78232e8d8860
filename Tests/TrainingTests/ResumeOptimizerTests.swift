import Detection
import Foundation
import Optimizers
import Testing
@testable import Training

/// A checkpoint's optimizer state records the optimizer that wrote it (`meta:optimizer:<kind>`),
/// so resuming with another optimizer is refused instead of reading one rule's slots as
/// another's (SGD's momentum and RMSProp's mean square are both one slot of the same size).
@Suite("Resume: the optimizer state names its optimizer")
struct ResumeOptimizerTests {
    /// A checkpoint directory holding one `.states` for a one-parameter network, written by `kind`.
    func written(by kind: OptimizerKind) throws -> (CheckpointFiles, [Int: OptimizerState]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("resume-opt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let files = CheckpointFiles(directory: dir, epoch: 2)
        var state = OptimizerState(slots: 1, count: 3)
        state.slots[0] = [0.5, -1, 2]
        state.updateCount = 7
        try files.writeOptimizerState([0: state], names: ["conv_weight"], position: TrainingPosition(epoch: 2, update: 7), optimizer: kind)
        return (files, [0: OptimizerState(slots: 1, count: 3)])
    }

    @Test("read back by the same optimizer: slots, counts and position; by another: an error naming both and what to do")
    func mismatchRefused() throws {
        let (files, fresh) = try written(by: .rmsprop)
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        let (states, position) = try files.readOptimizerState(fresh, names: ["conv_weight"], optimizer: .rmsprop)
        #expect(states[0]?.slots == [[0.5, -1, 2]] && states[0]?.updateCount == 7 && position.update == 7)
        do {
            _ = try files.readOptimizerState(fresh, names: ["conv_weight"], optimizer: .sgd)
            Issue.record("an RMSProp state was read as SGD momentum")
        } catch {
            let text = "\(error)"
            #expect(text.contains("optimizer=rmsprop") && text.contains("optimizer=sgd") && text.contains("resume with optimizer=rmsprop"), "\(text)")
        }
    }

    @Test("a state written before the optimizer was recorded is still read")
    func olderStateAccepted() throws {
        let (files, fresh) = try written(by: .sgd)
        defer { try? FileManager.default.removeItem(atPath: files.directory) }
        let arrays = try MXNetParams.read(path: files.states).filter { !$0.name.hasPrefix(CheckpointFiles.optimizerArrayPrefix) }
        #expect(arrays.count == 5)
        try MXNetParams.write(arrays, to: files.states)
        let (states, _) = try files.readOptimizerState(fresh, names: ["conv_weight"], optimizer: .sgd)
        #expect(states[0]?.updateCount == 7)
    }
}
