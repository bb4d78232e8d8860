import Foundation

/// Checks a pretrained `.params` file before it is loaded, so a truncated download or a file of
/// another network is a clear error instead of a confusing shape mismatch or silently bad
/// weights.
///
/// Rules, in order:
/// 1. `FILE.sha1` beside the file (`sha1sum` output: 40 hex digits first) — the user's own pin,
///    for any file: the SHA-1 must match.
/// 2. A file name in `published` must have that SHA-1.
/// 3. A file name in `unpublished` (the MXNet SSD example's own downloads, for which nobody
///    published a sum) loads with a warning on standard error giving its SHA-1, so it can be
///    pinned with rule 1.
/// 4. Any other name (checkpoints, one's own weights) loads without hashing: the same loader
///    reads every checkpoint, and a warning there would only be noise.
public enum PretrainedChecksum {
    /// SHA-1 sums published with the files, by file name. Sources:
    /// - MXNet 1.9.1 `python/mxnet/gluon/model_zoo/model_store.py`, `_model_sha1` (file name
    ///   `NAME-<first 8 hex of the sum>.params`, downloaded by `get_model_file`);
    /// - GluonCV 0.10.5 `gluoncv/model_zoo/model_store.py`, `_model_sha1` (same naming;
    ///   `vgg16_atrous` is GluonCV's SSD base, the Gluon counterpart of `vgg16_reduced`).
    /// These Gluon files store Gluon block names, not the SSD symbol's layer names: they pass
    /// this check, and `loadPretrained` then says that none of their arrays match.
    public static let published: [String: String] = [
        "resnet50_v1-0aee57f9.params": "0aee57f96768c0a2d5b23a6ec91eb08dfb0a45ce",  // MXNet Gluon model zoo
        "vgg16-e660d456.params": "e660d4569ccb679ec68f1fd3cce07a387252a90a",  // MXNet Gluon model zoo
        "resnet50_v1-cc729d95.params": "cc729d95031ca98cf2ff362eb57dee4d9994e4b2",  // GluonCV model zoo
        "vgg16_atrous-4fa2e1ad.params": "4fa2e1ad96b8c8d1ba9e5a43556cd909d70b3985",  // GluonCV model zoo
    ]

    /// The MXNet SSD example's base-network downloads (README: `vgg16_reduced.zip` from
    /// zhreshold/mxnet-ssd release v0.2-beta; `resnet-50-0000.params` from MXNet's model zoo,
    /// `imagenet/resnet/50-layers/`): neither the example, its scripts nor `modelzoo.py` /
    /// `test_utils.download_model` publish a checksum for them.
    public static let unpublished: Set<String> = ["vgg16_reduced-0001.params", "resnet-50-0000.params"]

    /// What the check found.
    public enum Verdict: Equatable, Sendable {
        /// The SHA-1 matched `source` (the sidecar file or the published table).
        case verified(sha1: String, source: String)
        /// A known name without a published sum; its SHA-1 for pinning.
        case noPublishedSum(sha1: String)
        /// Not a known name and no sidecar: not hashed.
        case notChecked
    }

    /// Applies the rules above to `path`; a mismatch throws `PretrainedChecksumError.mismatch`.
    @discardableResult
    public static func verify(path: String, warn: (String) -> Void = { FileHandle.standardError.write(Data(("warning: " + $0 + "\n").utf8)) }) throws -> Verdict {
        let name = (path as NSString).lastPathComponent
        let sidecar = path + ".sha1"
        let expected: (sum: String, source: String)?
        if let data = FileManager.default.contents(atPath: sidecar) {
            let sum = String(decoding: data, as: UTF8.self).split(whereSeparator: { $0.isWhitespace }).first.map { $0.lowercased() } ?? ""
            guard sum.count == 40, sum.allSatisfy(\.isHexDigit) else {
                throw PretrainedChecksumError.badSidecar(path: sidecar, text: String(decoding: data.prefix(60), as: UTF8.self))
            }
            expected = (sum, sidecar)
        } else if let sum = published[name] {
            expected = (sum, "the sum published for \(name)")
        } else if unpublished.contains(name) {
            let sum = try sha1(path: path)
            warn("\(path): no SHA-1 is published for \(name); this file's is \(sum). Compare it with your source's, and pin it: echo \(sum) > \(sidecar)")
            return .noPublishedSum(sha1: sum)
        } else {
            return .notChecked
        }
        guard let expected else { return .notChecked }
        let found = try sha1(path: path)
        guard found == expected.sum else {
            throw PretrainedChecksumError.mismatch(path: path, expected: expected.sum, found: found, source: expected.source)
        }
        return .verified(sha1: found, source: expected.source)
    }

    /// SHA-1 of a file, read in 1 MiB pieces, as lowercase hex.
    public static func sha1(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw PretrainedChecksumError.unreadable(path: path, reason: "cannot open") }
        defer { try? handle.close() }
        var hasher = SHA1()
        while true {
            let chunk: Data
            do { chunk = try handle.read(upToCount: 1 << 20) ?? Data() } catch {
                throw PretrainedChecksumError.unreadable(path: path, reason: error.localizedDescription)
            }
            if chunk.isEmpty { break }
            hasher.update(chunk)
        }
        return hasher.finalize()
    }
}

/// A pretrained file that is not the one its name or pin promises.
public enum PretrainedChecksumError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file's SHA-1 differs from the expected one.
    case mismatch(path: String, expected: String, found: String, source: String)
    /// A `.sha1` pin file that does not start with 40 hex digits.
    case badSidecar(path: String, text: String)
    /// The file could not be read to the end.
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case let .mismatch(path, expected, found, source):
            return "\(path): SHA-1 \(found), expected \(expected) (\(source)). The file is damaged, truncated or another "
                + "file under this name: download it again (README: pretrained weights), or fix the pin if the file is right."
        case let .badSidecar(path, text):
            return "\(path): \"\(text)\" does not start with a 40-digit hex SHA-1. Write it as `sha1sum FILE > FILE.sha1` does, or remove it."
        case let .unreadable(path, reason):
            return "\(path): cannot be read to compute its SHA-1: \(reason)."
        }
    }
}

/// SHA-1 (FIPS 180-4 §6.1), written from the standard: used to recognise a download, not for
/// security (for that SHA-1 is broken). Hand-written rather than pulling in swift-crypto and
/// its BoringSSL build for one hash of one file at start-up.
struct SHA1 {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
    private var pending: [UInt8] = []
    private var length: UInt64 = 0  // bytes hashed so far

    /// Adds `data` to the message.
    mutating func update<D: DataProtocol>(_ data: D) {
        length &+= UInt64(data.count)
        for region in data.regions { region.withUnsafeBytes { consume($0) } }
    }

    /// Whole 64-byte blocks straight from `bytes`; a partial block waits in `pending`.
    private mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, bytes.count)
            pending.append(contentsOf: bytes[0..<take])
            offset = take
            guard pending.count == 64 else { return }
            pending.withUnsafeBytes { compress($0) }
            pending.removeAll(keepingCapacity: true)
        }
        while bytes.count - offset >= 64 {
            compress(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 64)]))
            offset += 64
        }
        pending.append(contentsOf: bytes[offset...])
    }

    /// Pads (0x80, zeros, the bit length big-endian) and returns the digest as lowercase hex.
    mutating func finalize() -> String {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        while (pending.count + tail.count) % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        tail.withUnsafeBytes { consume($0) }
        return [h.0, h.1, h.2, h.3, h.4].map { word in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 8 - hex.count) + hex
        }.joined()
    }

    /// One 64-byte block (§6.1.2): the 80-word schedule, then 80 rounds.
    private mutating func compress(_ block: UnsafeRawBufferPointer) {
        var (a, b, c, d, e) = h
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            for t in 0..<16 { w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self)) }
            for t in 16..<80 { w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1) }
            for t in 0..<80 {
                let f: UInt32, k: UInt32
                switch t {
                case 0..<20: f = (b & c) | (~b & d); k = 0x5A82_7999
                case 20..<40: f = b ^ c ^ d; k = 0x6ED9_EBA1
                case 40..<60: f = (b & c) | (b & d) | (c & d); k = 0x8F1B_BCDC
                default: f = b ^ c ^ d; k = 0xCA62_C1D6
                }
                let temp = rotl(a, 5) &+ f &+ e &+ k &+ w[t]
                e = d; d = c; c = rotl(b, 30); b = a; a = temp
            }
        }
        h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
    }

    private func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { (x << n) | (x >> (32 - n)) }
}
