import Detection
import Foundation
import Optimizers

/// Where a run stands: the next epoch to train, the batches of it already done, and the
/// optimizer updates done so far.
public struct TrainingPosition: Equatable, Sendable {
    public var epoch = 0
    public var batch = 0
    public var update = 0

    public init(epoch: Int = 0, batch: Int = 0, update: Int = 0) { self.epoch = epoch; self.batch = batch; self.update = update }
}

/// One checkpoint in a checkpoint directory (SageMaker's names): `model_algo_1-NNNN.params`
/// (MXNet `arg:`/`aux:` arrays), `model_algo_1-NNNN.states` (the optimizer state: this
/// machine's, or in a cluster the servers' as worker 0 fetched them), and last
/// `model_algo_1-NNNN.manifest.json` (`CheckpointManifest`: position, data order, network, and
/// the size and SHA-1 of the other two); beside them the directory's
/// `model_algo_1-model.json` and `hyperparams.json`. NNNN counts completed epochs; a checkpoint
/// written mid-epoch (on SIGTERM) adds `-batchBBBBBB`, the batches of the next epoch done.
/// Every file is written atomically (`DurableFile`: temporary file, fsync, rename), the
/// manifest last, so a crash or a full disk leaves the previous checkpoint complete.
public struct CheckpointFiles: Equatable, Sendable {
    /// Epochs completed when it was written.
    public var epoch: Int
    /// Batches of epoch `epoch` (0-based: the next one) done; 0 at an epoch's end.
    public var batch: Int
    public var directory: String
    /// The weights.
    public var params: String { stem + ".params" }
    /// The optimizer state beside the weights (single machine).
    public var states: String { stem + ".states" }
    /// The manifest, written last.
    public var manifest: String { stem + ".manifest.json" }

    private var stem: String {
        let name = String(format: "\(Checkpoint.prefix)-%04d", epoch) + (batch > 0 ? String(format: "-batch%06d", batch) : "")
        return (directory as NSString).appendingPathComponent(name)
    }

    /// The checkpoint after `epoch` completed epochs and `batch` batches of the next in `directory`.
    public init(directory: String, epoch: Int, batch: Int = 0) {
        self.directory = directory; self.epoch = epoch; self.batch = batch
    }

    /// Every checkpoint in `directory` with at least one of its files, complete or not, newest
    /// first (by epoch, then batch). The final model's `model_algo_1-0000.params` is not one.
    public static func all(in directory: String) -> [CheckpointFiles] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var found = Set<[Int]>()
        for name in names where name.hasPrefix("\(Checkpoint.prefix)-") && !name.hasPrefix(".") {
            var rest = name.dropFirst(Checkpoint.prefix.count + 1)
            guard let end = [".params", ".states", ".manifest.json"].first(where: { rest.hasSuffix($0) }) else { continue }
            rest = rest.dropLast(end.count)
            let parts = rest.split(separator: "-", omittingEmptySubsequences: false)
            guard let epoch = Int(parts[0]), epoch >= 0 else { continue }
            var batch = 0
            if parts.count == 2, parts[1].hasPrefix("batch"), let b = Int(parts[1].dropFirst(5)), b > 0 { batch = b }
            else if parts.count != 1 { continue }
            if epoch == 0 && batch == 0 { continue }
            found.insert([epoch, batch])
        }
        return found.sorted { ($0[0], $0[1]) > ($1[0], $1[1]) }.map { CheckpointFiles(directory: directory, epoch: $0[0], batch: $0[1]) }
    }

    /// Removes the mid-epoch checkpoints (written on SIGTERM) older than this one, which must be
    /// complete: a resume takes the newest complete checkpoint, so they would never be read
    /// again, and each holds the weights and the optimizer state (≈ 300 MB for SSD300-VGG16).
    /// Epoch checkpoints are kept. The manifest goes first, so an interrupted removal leaves an
    /// incomplete checkpoint that a search skips, never a complete one with a file missing.
    /// Returns what was removed, and each file that could not be (training goes on: a file left
    /// behind costs disk, not correctness).
    @discardableResult
    public func removeSupersededMidEpochCheckpoints() -> (removed: [CheckpointFiles], failures: [String]) {
        guard case .success = readManifest(hashing: false) else { return ([], []) }
        var removed: [CheckpointFiles] = [], failures: [String] = []
        for checkpoint in Self.all(in: directory) where checkpoint.batch > 0 && (checkpoint.epoch, checkpoint.batch) < (epoch, batch) {
            var whole = true
            for path in [checkpoint.manifest, checkpoint.params, checkpoint.states] where FileManager.default.fileExists(atPath: path) {
                do { try FileManager.default.removeItem(atPath: path) } catch {
                    whole = false
                    failures.append("\(path): \(error.localizedDescription)")
                }
            }
            if whole { removed.append(checkpoint) }
        }
        return (removed, failures)
    }

    /// The newest complete checkpoint of `directory` (`CheckpointManifest`), and each newer one
    /// that is not complete with the reason. For resuming, and for anyone who needs to know what
    /// a restart would start from (a cluster's resume, the worker's message on SIGTERM).
    /// Without `hashing` the files' sizes are checked but not their SHA-1 (quick, for a message).
    public static func search(in directory: String, hashing: Bool = true) -> CheckpointSearch {
        var skipped: [CheckpointSearch.Skipped] = []
        for checkpoint in all(in: directory) {
            switch checkpoint.readManifest(hashing: hashing) {
            case .success(let manifest): return CheckpointSearch(newest: (checkpoint, manifest), skipped: skipped)
            case .failure(let error): skipped.append((checkpoint, error))
            }
        }
        return CheckpointSearch(newest: nil, skipped: skipped)
    }

    /// Its manifest, when the checkpoint is complete: the manifest decodes, names this
    /// checkpoint's position, and every file it lists has the size and (with `hashing`) the SHA-1 it gives.
    public func readManifest(hashing: Bool = true) -> Result<CheckpointManifest, CheckpointError> {
        CheckpointManifest.read(manifest).flatMap { m in
            guard m.epoch == epoch, m.batch == batch else {
                return .failure(.incomplete(path: manifest, reason: "it describes epoch \(m.epoch) batch \(m.batch), not its own name's"))
            }
            do throws(CheckpointError) { try m.verify(in: directory, hashing: hashing) } catch { return .failure(error) }
            return .success(m)
        }
    }

    /// Writes the manifest, the checkpoint's last file: `manifest` with the size and SHA-1 of
    /// the weights and (when written) the optimizer state.
    func writeManifest(_ manifest: CheckpointManifest) throws {
        var m = manifest
        m.files = try [params, states].filter { FileManager.default.fileExists(atPath: $0) }.map { try CheckpointManifest.describe($0) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try DurableFile.write(encoder.encode(m), to: self.manifest)
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

    /// The array naming the optimizer that wrote a state: `meta:optimizer:<kind>` (value 1) — a
    /// state's slots mean different things for each update rule (SGD's momentum and RMSProp's
    /// mean square are both one slot), so they are never read by another.
    static let optimizerArrayPrefix = "meta:optimizer:"

    /// Writes the optimizer state (MXNet NDArray-list format): `meta:epoch`, `meta:batch`, `meta:update`,
    /// `meta:optimizer:<kind>`, and per parameter `count:<name>` (its own update count) and `state:<name>:<slot>`.
    func writeOptimizerState(_ optimizerStates: [Int: OptimizerState], names: [String], position: TrainingPosition,
                             optimizer: OptimizerKind) throws {
        var arrays = [MXNetParams.Array(name: "meta:epoch", shape: [1], values: [Float(position.epoch)]),
                      MXNetParams.Array(name: "meta:batch", shape: [1], values: [Float(position.batch)]),
                      MXNetParams.Array(name: "meta:update", shape: [1], values: [Float(position.update)]),
                      MXNetParams.Array(name: Self.optimizerArrayPrefix + optimizer.rawValue, shape: [1], values: [1])]
        for (i, state) in optimizerStates.sorted(by: { $0.key < $1.key }) {
            arrays.append(MXNetParams.Array(name: "count:\(names[i])", shape: [1], values: [Float(state.updateCount)]))
            for (k, slot) in state.slots.enumerated() {
                arrays.append(MXNetParams.Array(name: "state:\(names[i]):\(k)", shape: [slot.count], values: slot))
            }
        }
        try MXNetParams.write(arrays, to: states)
    }

    /// Reads the optimizer state into a copy of `fresh` (one zero state per trained parameter):
    /// every one of them must be there with the right sizes, its epoch must be this
    /// checkpoint's, and it must have been written by `optimizer` (states written before the
    /// optimizer was recorded are taken as they are). A missing file is `optimizerStateMissing`,
    /// never a silent restart.
    func readOptimizerState(_ fresh: [Int: OptimizerState], names: [String],
                            optimizer: OptimizerKind) throws -> ([Int: OptimizerState], TrainingPosition) {
        guard FileManager.default.fileExists(atPath: states) else {
            throw TrainingError.optimizerStateMissing(params: params, states: states)
        }
        var arrays: [String: [Float]] = [:]
        for a in try MXNetParams.read(path: states) { arrays[a.name] = a.values }
        func unusable(_ reason: String) -> TrainingError { .optimizerStateUnusable(path: states, reason: reason) }
        guard let epoch = arrays["meta:epoch"]?.first, let update = arrays["meta:update"]?.first else {
            throw unusable("no meta:epoch / meta:update; it is not an optimizer state written by this trainer")
        }
        if let written = arrays.keys.first(where: { $0.hasPrefix(Self.optimizerArrayPrefix) })?.dropFirst(Self.optimizerArrayPrefix.count),
           written != optimizer.rawValue {
            throw unusable("its optimizer state was written by optimizer=\(written), but this run uses optimizer=\(optimizer.rawValue) "
                           + "(their state slots mean different things); resume with optimizer=\(written), or start the new "
                           + "optimizer without --resume in another model directory")
        }
        let batch = Int(arrays["meta:batch"]?.first ?? 0)
        guard Int(epoch) == self.epoch, batch == self.batch else {
            throw unusable("written at epoch \(Int(epoch)) batch \(batch), but its .params is of epoch \(self.epoch) batch \(self.batch)")
        }
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
        return (result, TrainingPosition(epoch: Int(epoch), batch: batch, update: Int(update)))
    }
}

/// What `CheckpointFiles.search` found: the newest complete checkpoint, and the newer ones
/// skipped because they are not complete (newest first).
public struct CheckpointSearch: Sendable {
    public typealias Skipped = (checkpoint: CheckpointFiles, reason: CheckpointError)
    public var newest: (checkpoint: CheckpointFiles, manifest: CheckpointManifest)?
    public var skipped: [Skipped]
}
