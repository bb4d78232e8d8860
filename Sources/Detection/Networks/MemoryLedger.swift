import Foundation

/// The activation-sized buffers of a training step or inference pass (layer outputs, what
/// backward keeps of them, activation gradients), tracked while it is attached to a model
/// (`SSDModel.memory`): how many bytes are live at once, and which buffers are live when that
/// is highest. Parameters, their gradients and the convolutions' scratch are not in it.
public final class MemoryLedger {
    /// One live buffer.
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var bytes: Int
    }

    private var live: [String: Int] = [:]
    private var order: [String] = []
    /// Bytes live now.
    public private(set) var liveBytes = 0
    /// The most bytes that were live at once.
    public private(set) var peakBytes = 0
    /// Where the peak was reached (the layer and phase that had just allocated).
    public private(set) var peakAt = ""
    /// The buffers live at the peak, in allocation order.
    public private(set) var atPeak: [Entry] = []

    public init() {}

    /// The buffers live now, in allocation order.
    public var liveBuffers: [Entry] { order.map { Entry(name: $0, bytes: live[$0]!) } }

    /// `name` (e.g. "forward conv1_1 output") now holds `bytes`; `during` names the step.
    func allocate(_ name: String, bytes: Int, during: String) {
        if let old = live[name] { liveBytes -= old } else { order.append(name) }
        live[name] = bytes
        liveBytes += bytes
        if liveBytes > peakBytes {
            peakBytes = liveBytes
            peakAt = during
            atPeak = liveBuffers
        }
    }

    /// `name` was freed (nothing when it is not live).
    func free(_ name: String) {
        guard let bytes = live.removeValue(forKey: name) else { return }
        liveBytes -= bytes
        order.removeAll { $0 == name }
    }

    /// Forgets every live buffer (a new step starts; whatever the last one left is gone).
    func freeAll() {
        live = [:]
        order = []
        liveBytes = 0
    }

    /// A table of the buffers live at the peak, largest first (`top` of them, the rest summed).
    public func report(top: Int = 25) -> String {
        func mib(_ b: Int) -> String { String(format: "%8.1f", Double(b) / Double(1 << 20)) }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        var lines = ["activation buffers live at their peak (\(mib(peakBytes).trimmingCharacters(in: .whitespaces)) MiB, reached at \(peakAt)):",
                     pad("buffer", 48) + "      MiB"]
        let sorted = atPeak.sorted { $0.bytes > $1.bytes }
        for e in sorted.prefix(top) { lines.append(pad(e.name, 48) + " " + mib(e.bytes)) }
        let rest = sorted.dropFirst(top)
        if !rest.isEmpty { lines.append(pad("(\(rest.count) smaller)", 48) + " " + mib(rest.reduce(0) { $0 + $1.bytes })) }
        return lines.joined(separator: "\n")
    }
}

extension SSDModel {
    /// Where a peak resident size of `peakResidentBytes` came from: the parameters and their
    /// gradients, the activation buffers `ledger` saw live at their peak (largest first), and
    /// the rest (the convolutions' scratch, OpenBLAS's buffers, the runtime, the input batch,
    /// targets and loss, and heap memory freed but kept for reuse).
    public func memoryReport(_ ledger: MemoryLedger, peakResidentBytes: Int, top: Int = 25) -> String {
        func mib(_ b: Int) -> String { String(format: "%8.1f", Double(b) / Double(1 << 20)) }
        let parameterBytes = parameters.count * 4, gradientBytes = parameters.allocatedGradients == nil ? 0 : parameterBytes
        let rest = peakResidentBytes - parameterBytes - gradientBytes - ledger.peakBytes
        return [
            "peak resident memory \(mib(peakResidentBytes)) MiB:",
            "  parameters           \(mib(parameterBytes)) MiB",
            "  parameter gradients  \(mib(gradientBytes)) MiB" + (gradientBytes == 0 ? " (never allocated: forward passes only)" : ""),
            "  activation buffers   \(mib(ledger.peakBytes)) MiB (at their peak)",
            "  activation block     \(mib(arena.capacity * 4)) MiB (the outputs and gradients among them at planned offsets: ActivationArena)",
            "  everything else      \(mib(rest)) MiB (convolution scratch, OpenBLAS, runtime, inputs, loss, freed heap)",
            ledger.report(top: top),
        ].joined(separator: "\n")
    }
}
