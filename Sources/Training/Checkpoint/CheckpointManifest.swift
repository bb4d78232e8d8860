import Detection
import Foundation

/// The last file of a checkpoint, `model_algo_1-NNNN[-batchBBBBBB].manifest.json`: where the
/// run stood, what made its data order, the network, and the size and SHA-1 of every other
/// file of the checkpoint. A checkpoint is *complete* when its manifest exists, decodes, and
/// every file it lists has that size and hash — the manifest is written (atomically) only
/// after the files it lists, so a crash at any moment leaves either a complete checkpoint or
/// one without a manifest, which resuming skips for the next older one.
public struct CheckpointManifest: Codable, Equatable, Sendable {
    /// Bumped when the meaning of a field changes; another version is not resumed from.
    public static let currentFormat = 1

    public var format = Self.currentFormat
    /// Epochs completed, batches of the next epoch done (0 at an epoch's end) and optimizer
    /// updates done.
    public var epoch: Int
    public var batch: Int
    public var update: Int
    /// What the data order and augmentation of an epoch depend on (with the epoch number):
    /// a resume mid-epoch with other values still trains, but not the same batches.
    public var seed: UInt64
    public var miniBatchSize: Int
    public var workers: Int
    public var augment: Bool
    public var network: NetworkIdentity
    /// The epoch's summed losses over the batches done so far (so its mean is whole after a
    /// resume mid-epoch).
    public var epochCrossEntropy = 0.0
    public var epochSmoothL1 = 0.0
    /// Early stopping's memory: the best validation mAP so far (-1: none yet) and the epochs
    /// since it improved.
    public var bestMAP = -1.0
    public var epochsWithoutImprovement = 0
    /// The checkpoint's other files, by name (in the same directory).
    public var files: [File] = []

    /// One file of the checkpoint.
    public struct File: Codable, Equatable, Sendable {
        public var name: String
        public var bytes: Int
        public var sha1: String
    }

    /// Where training continues.
    public var position: TrainingPosition { TrainingPosition(epoch: epoch, batch: batch, update: update) }

    /// Describes `path` as it is on disk now (without `hashing`, the SHA-1 is left empty).
    static func describe(_ path: String, hashing: Bool = true) throws -> File {
        let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return File(name: (path as NSString).lastPathComponent, bytes: bytes, sha1: hashing ? try PretrainedChecksum.sha1(path: path) : "")
    }

    /// Reads and decodes a manifest, or says why it cannot be used.
    static func read(_ path: String) -> Result<CheckpointManifest, CheckpointError> {
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(.incomplete(path: path, reason: "no manifest: the checkpoint's writing did not finish"))
        }
        do {
            let manifest = try JSONDecoder().decode(CheckpointManifest.self, from: data)
            guard manifest.format == currentFormat else {
                return .failure(.incomplete(path: path, reason: "manifest format \(manifest.format), this trainer reads \(currentFormat)"))
            }
            return .success(manifest)
        } catch {
            return .failure(.incomplete(path: path, reason: "the manifest does not decode (\(error))"))
        }
    }

    /// Checks every listed file against its size and (with `hashing`) its SHA-1.
    func verify(in directory: String, hashing: Bool = true) throws(CheckpointError) {
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file.name)
            let found: File
            do { found = try Self.describe(path, hashing: hashing) } catch {
                throw .incomplete(path: path, reason: "listed in the manifest but missing or unreadable (\(error))")
            }
            guard found.bytes == file.bytes else {
                throw .incomplete(path: path, reason: "\(found.bytes) bytes, the manifest says \(file.bytes): the file was cut short or replaced")
            }
            guard !hashing || found.sha1 == file.sha1 else {
                throw .incomplete(path: path, reason: "its SHA-1 is \(found.sha1), the manifest says \(file.sha1): the file is damaged")
            }
        }
    }
}
