import Detection
import Foundation
import Optimizers

/// Where a run stands: the next epoch to train and the optimizer updates done so far.
public struct TrainingPosition: Equatable, Sendable {
    public var epoch = 0
    public var update = 0
}

/// One epoch's checkpoint in a model directory (SageMaker's names): `model_algo_1-NNNN.params`
/// (MXNet `arg:`/`aux:` arrays), `model_algo_1-NNNN.states` (the optimizer state: this
/// machine's, or in a cluster the servers' as worker 0 fetched it), and the directory's `model_algo_1-model.json` and `hyperparams.json`. NNNN counts
/// completed epochs. Every file is written atomically (`DurableFile`), the `.states` before
/// its `.params`, so a crash or a full disk leaves the previous checkpoint whole.
public struct CheckpointFiles: Equatable, Sendable {
    /// Epochs completed when it was written.
    public var epoch: Int
    public var params: String
    /// The optimizer state beside the weights.
    public var states: String { (params as NSString).deletingPathExtension + ".states" }

    /// The checkpoint of `epoch` completed epochs in `directory`.
    public init(directory: String, epoch: Int) {
        self.epoch = epoch
        params = (directory as NSString).appendingPathComponent(String(format: "\(Checkpoint.prefix)-%04d.params", epoch))
    }

    /// Every checkpoint in `directory`, newest first.
    public static func all(in directory: String) -> [CheckpointFiles] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let epochs = names.compactMap { name -> Int? in
            guard name.hasPrefix("\(Checkpoint.prefix)-"), name.hasSuffix(".params") else { return nil }
            return Int(name.dropFirst(Checkpoint.prefix.count + 1).dropLast(".params".count))
        }
        return epochs.sorted(by: >).map { CheckpointFiles(directory: directory, epoch: $0) }
    }

    /// Writes the weights, the model description and `hyperparams.json`.
    func writeModel(_ model: SSDModel, hyperparameters h: Hyperparameters) throws {
        let directory = (params as NSString).deletingLastPathComponent
        try model.exportMXNet(to: params)
        try Checkpoint.writeDescription(model, epoch: epoch, extra: ["base_network": h.baseNetwork.rawValue], to: directory)
        try DurableFile.write(JSONSerialization.data(withJSONObject: h.asStrings, options: [.prettyPrinted, .sortedKeys]),
                              to: (directory as NSString).appendingPathComponent("hyperparams.json"))
    }

    /// Loads every array of the network from `params`; a checkpoint missing any is an error.
    func loadWeights(into model: SSDModel) throws {
        let loaded = Set(try model.parameters.load(try MXNetParams.read(path: params), path: params))
        let missing = model.parameters.specs.map(\.name).filter { !loaded.contains($0) }
        guard missing.isEmpty else { throw TrainingError.checkpointIncomplete(path: params, missing: missing) }
    }

    /// Writes the optimizer state (MXNet NDArray-list format): `meta:epoch`, `meta:update`, and
    /// per parameter `count:<name>` (its own update count) and `state:<name>:<slot>`.
    func writeOptimizerState(_ optimizerStates: [Int: OptimizerState], names: [String], position: TrainingPosition) throws {
        var arrays = [MXNetParams.Array(name: "meta:epoch", shape: [1], values: [Float(position.epoch)]),
                      MXNetParams.Array(name: "meta:update", shape: [1], values: [Float(position.update)])]
        for (i, state) in optimizerStates.sorted(by: { $0.key < $1.key }) {
            arrays.append(MXNetParams.Array(name: "count:\(names[i])", shape: [1], values: [Float(state.updateCount)]))
            for (k, slot) in state.slots.enumerated() {
                arrays.append(MXNetParams.Array(name: "state:\(names[i]):\(k)", shape: [slot.count], values: slot))
            }
        }
        try MXNetParams.write(arrays, to: states)
    }

    /// Reads the optimizer state into a copy of `fresh` (one zero state per trained parameter):
    /// every one of them must be there with the right sizes, and its epoch must be this
    /// checkpoint's. A missing file is `optimizerStateMissing`, never a silent restart.
    func readOptimizerState(_ fresh: [Int: OptimizerState], names: [String]) throws -> ([Int: OptimizerState], TrainingPosition) {
        guard FileManager.default.fileExists(atPath: states) else {
            throw TrainingError.optimizerStateMissing(params: params, states: states)
        }
        var arrays: [String: [Float]] = [:]
        for a in try MXNetParams.read(path: states) { arrays[a.name] = a.values }
        func unusable(_ reason: String) -> TrainingError { .optimizerStateUnusable(path: states, reason: reason) }
        guard let epoch = arrays["meta:epoch"]?.first, let update = arrays["meta:update"]?.first else {
            throw unusable("no meta:epoch / meta:update; it is not an optimizer state written by this trainer")
        }
        guard Int(epoch) == self.epoch else { throw unusable("written after epoch \(Int(epoch)), but its .params is of epoch \(self.epoch)") }
        var result = fresh
        for (i, state) in fresh {
            guard let count = arrays["count:\(names[i])"]?.first else { throw unusable("no state for \(names[i])") }
            result[i]!.updateCount = Int(count)
            for k in state.slots.indices {
                guard let slot = arrays["state:\(names[i]):\(k)"], slot.count == state.slots[k].count else {
                    throw unusable("state:\(names[i]):\(k) is missing or has the wrong size; it was written for another "
                                   + "optimizer or network")
                }
                result[i]!.slots[k] = slot
            }
        }
        return (result, TrainingPosition(epoch: Int(epoch), update: Int(update)))
    }
}
