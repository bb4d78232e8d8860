/// Packs a detection dataset (SageMaker JSON channel or `.lst`) into `.rec` + `.idx`, the
/// work of `ssd im2rec`. Image bytes are stored as they are (no re-encoding); every image is
/// decoded once to check it, and every label validated.
public enum RecordIOPacker {
    /// What a packing run did.
    public struct Summary: Sendable {
        /// Records written.
        public var written: Int
        /// Samples skipped as bad (only with skipBad), with reasons.
        public var skipped: [SkippedSample]
    }

    /// Writes `prefix.rec` and `prefix.idx` from `dataset`; a bad sample throws unless `skipBad`.
    /// Each record keeps the sample's `id` and `id2` (as MXNet's `recordio.pack` keeps the
    /// header it is given). Both files appear only when every record is written: a failure
    /// (a missing image, a full disk, no good sample) leaves the previous files, or none.
    public static func pack(_ dataset: any DetectionDataset, to prefix: String, numClasses: Int? = nil, skipBad: Bool = false) throws -> Summary {
        let writer = try RecordIOWriter(path: prefix + ".rec")
        var summary = Summary(written: 0, skipped: [])
        do {
            for i in 0..<dataset.count {
                do {
                    let s = try dataset.sample(at: i)
                    try DetectionLabel.validate(s.objects, numClasses: numClasses, source: dataset.name, record: s.source)
                    _ = try ImageCodec.decode(s.imageBytes, source: s.source)
                    try writer.write(ImageRecord(id: s.id, id2: s.id2, labels: s.rawLabel, imageBytes: s.imageBytes))
                    summary.written += 1
                } catch let error as DetectionDataError where skipBad {
                    summary.skipped.append(SkippedSample(index: i, reason: error.description))
                }
            }
            guard summary.written > 0 else { throw DetectionDataError.emptyDataset(source: dataset.name) }
        } catch {
            writer.discard()
            throw error
        }
        try writer.close(indexPath: prefix + ".idx")
        return summary
    }
}
