// Transformed Winograd weights kept between calls while a layer's weights stay the same: every
// forward pass of a loaded model (`ssd predict`, `ssd serve`) runs with the same weights, and
// transforming them is a pass over 16/9 (F(2×2)) or 4 (F(4×4)) times the weights' memory on
// every call — at batch 1 a good part of a layer's time (Benchmarks/results/README.md).
import Foundation

extension Winograd {
    /// The transformed weights (U) of the layers a workspace has run, each beside a copy of the
    /// weights it was made from. A call whose weights equal the copy bit for bit reuses U; any
    /// change (an optimizer step, a reloaded checkpoint, other weights at the same address)
    /// transforms them again. Memory: the weights plus U, per layer and direction.
    final class WeightCache {
        private struct Key: Hashable {
            var address: Int, outChannels: Int, inChannels: Int, algorithm: Algorithm, flipped: Bool
        }

        private final class Entry {
            let weights: UnsafeMutablePointer<Float>, transformed: UnsafeMutablePointer<Float>
            let weightCount: Int, transformedCount: Int

            init(weightCount: Int, transformedCount: Int) {
                self.weightCount = weightCount
                self.transformedCount = transformedCount
                weights = .allocate(capacity: weightCount)
                transformed = .allocate(capacity: transformedCount)
            }

            deinit {
                weights.deallocate()
                transformed.deallocate()
            }
        }

        private var entries: [Key: Entry] = [:]
        /// How many times the weights were transformed (a miss) and reused (a hit), for tests.
        private(set) var transforms = 0, reuses = 0

        /// Floats held: the weight copies and their transforms.
        var floats: Int { entries.values.reduce(0) { $0 + $1.weightCount + $1.transformedCount } }

        /// U of `weight` (K×C×3×3, or C×K×3×3 `flipped`: see `Winograd.convolve`) as `transform`
        /// writes it into `transformedCount` floats: the kept one when the weights are unchanged.
        func transformed(_ algorithm: Algorithm, weight: UnsafePointer<Float>, flipped: Bool, outChannels k: Int, inChannels c: Int,
                         transformedCount: Int, transform: (UnsafeMutablePointer<Float>) -> Void) -> UnsafePointer<Float> {
            let key = Key(address: Int(bitPattern: weight), outChannels: k, inChannels: c, algorithm: algorithm, flipped: flipped)
            let weightCount = 9 * k * c
            if let entry = entries[key], memcmp(entry.weights, weight, weightCount * MemoryLayout<Float>.size) == 0 {
                reuses += 1
                return UnsafePointer(entry.transformed)
            }
            let entry = entries[key] ?? Entry(weightCount: weightCount, transformedCount: transformedCount)
            entries[key] = entry
            entry.weights.update(from: weight, count: weightCount)
            transform(entry.transformed)
            transforms += 1
            return UnsafePointer(entry.transformed)
        }

        /// Drops every kept transform.
        func removeAll() { entries.removeAll() }
    }
}
