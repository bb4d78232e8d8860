import Foundation

/// Wall time per layer and phase, accumulated over the steps run while it is attached to a
/// model (`SSDModel.profile`): where a training step's time goes.
public final class LayerProfile {
    public enum Phase: String, Sendable { case forward, backward }

    public struct Entry: Sendable {
        public var layer: String
        public var phase: Phase
        public var seconds: Double
    }

    private var totals: [String: Double] = [:]
    private var order: [String] = []

    public init() {}

    /// Adds `seconds` to `layer`'s time in `phase`.
    public func record(_ layer: String, _ phase: Phase, seconds: Double) {
        let key = "\(phase.rawValue) \(layer)"
        if totals[key] == nil { order.append(key) }
        totals[key, default: 0] += seconds
    }

    /// Runs `body`, recording its wall time.
    @inline(__always)
    func measure<R>(_ layer: String, _ phase: Phase, _ body: () throws -> R) rethrows -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { record(layer, phase, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        return try body()
    }

    /// Every layer and phase, largest time first.
    public var entries: [Entry] {
        order.map { key in
            let parts = key.split(separator: " ", maxSplits: 1)
            return Entry(layer: String(parts[1]), phase: Phase(rawValue: String(parts[0]))!, seconds: totals[key]!)
        }.sorted { $0.seconds > $1.seconds }
    }

    /// Total recorded time.
    public var total: Double { totals.values.reduce(0, +) }

    /// A table of the `top` largest entries with their share of the total.
    public func report(top: Int = 20) -> String {
        let all = total
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var lines = [pad("layer", 42) + " " + pad("phase", 9) + "  seconds   share"]
        for e in entries.prefix(top) {
            lines.append(pad(e.layer, 42) + " " + pad(e.phase.rawValue, 9)
                         + String(format: " %8.3f %6.1f%%", e.seconds, 100 * e.seconds / max(all, 1e-12)))
        }
        lines.append(pad("(all layers)", 42) + " " + pad("", 9) + String(format: " %8.3f", all))
        return lines.joined(separator: "\n")
    }
}
