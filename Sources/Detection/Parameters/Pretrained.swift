import Foundation

extension SSDModel {
    /// `use_pretrained_model=1`: loads the base network's weights (and any other matching
    /// arrays) from an MXNet `.params` file — `arg:`/`aux:` or plain names. No file at `path`
    /// is an error saying how to provide one or to train from scratch; it never falls back to
    /// random weights silently. Returns the names loaded.
    @discardableResult
    public func loadPretrained(path: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError.pretrainedWeightsMissing(expected: path) }
        try PretrainedChecksum.verify(path: path)
        let arrays = try MXNetParams.read(path: path)
        let loaded = try parameters.load(arrays, path: path)
        guard !loaded.isEmpty else {
            throw ModelError.noMatchingArrays(path: path, found: arrays.map(\.name), expected: parameters.specs.map(\.name))
        }
        return loaded
    }

    /// Writes the whole model as an MXNet checkpoint (`arg:` names), readable by `mx.nd.load`.
    public func exportMXNet(to path: String) throws {
        try MXNetParams.write(parameters.exportMXNet(), to: path)
    }
}
