import Foundation

/// The gradient compression a cluster runs with (MXNet's `kv.set_gradient_compression`), chosen
/// by the worker option `--gradient-compression` / `--compression-threshold` or the launchers'
/// `PS_GRADIENT_COMPRESSION` / `PS_COMPRESSION_THRESHOLD`, and agreed at start-up: every worker
/// states it in its registration (the scheduler refuses a cluster whose workers differ) and
/// worker 0 gives it to the servers in `configure`.
///
/// Only worker → server pushes of optimized keys are compressed, as in MXNet 1.9.1's
/// `KVStoreDist::PushCompressed`: initial values, pulled weights (the servers' replies) and the
/// summed-only keys (loss counts, the stop flag) stay float32.
public struct GradientCompression: Codable, Equatable, Hashable, Sendable, CustomStringConvertible {
    /// What goes on the wire for a gradient.
    public enum Kind: String, Codable, CaseIterable, Sendable {
        /// float32, as computed.
        case none
        /// IEEE binary16, rounded to nearest even, with error feedback.
        case fp16
        /// bfloat16, rounded to nearest even, with error feedback.
        case bf16
        /// MXNet's 2bit: ±threshold or 0 per value, with error feedback.
        case twoBit = "2bit"
    }

    public var kind: Kind
    /// The 2bit threshold (MXNet's `threshold`, default 0.5); the default for every other kind.
    public var threshold: Float

    /// MXNet's default 2bit threshold (`GradientCompressionParam`).
    public static let defaultThreshold: Float = 0.5
    /// No compression.
    public static let none = GradientCompression(kind: .none)

    /// A setting; `threshold` matters for `.twoBit` only (and must be positive and finite there).
    public init(kind: Kind, threshold: Float = GradientCompression.defaultThreshold) {
        precondition(kind != .twoBit || (threshold > 0 && threshold.isFinite), "the 2bit threshold must be positive (use parse for user input)")
        self.kind = kind
        self.threshold = kind == .twoBit ? threshold : Self.defaultThreshold
    }

    /// The setting named by `kind` (none, fp16, bf16, 2bit) and an optional `threshold` text, as
    /// given by a flag or an environment variable called `source`.
    public static func parse(kind text: String, threshold thresholdText: String?, source: String = "--gradient-compression")
        throws(GradientCompressionError) -> GradientCompression {
        guard let kind = Kind(rawValue: text.trimmingCharacters(in: .whitespaces).lowercased()) else {
            throw .unknownKind(text, source: source)
        }
        var threshold = defaultThreshold
        if let thresholdText {
            guard let t = Float(thresholdText.trimmingCharacters(in: .whitespaces)), t > 0, t.isFinite else {
                throw .invalidThreshold(thresholdText)
            }
            threshold = t
        }
        return GradientCompression(kind: kind, threshold: threshold)
    }

    /// The payload encoding of a compressed push.
    public var encoding: PayloadEncoding {
        switch kind {
        case .none: return .float32
        case .fp16: return .float16
        case .bf16: return .bfloat16
        case .twoBit: return .twoBit
        }
    }

    /// `none`, `fp16`, `bf16`, `2bit (threshold 0.5)`.
    public var description: String {
        kind == .twoBit ? "2bit (threshold \(threshold))" : kind.rawValue
    }
}
