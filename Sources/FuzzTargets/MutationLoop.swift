import Tensor

/// A seeded mutation loop: the fuzzing driver where libFuzzer is not available, and the CI
/// smoke test's. It runs every seed, then `count` inputs made by stacking 1–4 random
/// mutations (bit flips, random and boundary values, insertions, deletions, duplicated blocks,
/// dictionary tokens, splices of two inputs, truncations) on a pool that starts as the seeds
/// and keeps some of the mutants, so mutations compound over generations. Without coverage
/// feedback it explores less deeply than libFuzzer; the same seed gives the same inputs.
public struct MutationLoop {
    /// The decoder under test.
    public let target: FuzzTarget
    /// Longest input produced.
    public var maxLength = 1 << 16
    private var pool: [[UInt8]]
    private var rng: SeededGenerator

    /// A loop over `target` starting from `seeds` (an empty input when there are none).
    public init(target: FuzzTarget, seeds: [[UInt8]], seed: UInt64) {
        self.target = target
        pool = seeds.isEmpty ? [[]] : seeds
        rng = SeededGenerator(seed: seed)
    }

    /// Runs the seeds, then `count` mutants; `beforeEach` sees every input before it runs
    /// (the driver keeps it to report a crash).
    public mutating func run(count: Int, beforeEach: ([UInt8]) -> Void = { _ in }) {
        for input in pool {
            beforeEach(input)
            target.run(input)
        }
        for _ in 0..<count {
            let input = next()
            beforeEach(input)
            target.run(input)
        }
    }

    /// The next mutant.
    public mutating func next() -> [UInt8] {
        var input = pool[pick(pool.count)]
        for _ in 0...pick(4) { mutate(&input) }
        if input.count > maxLength { input.removeLast(input.count - maxLength) }
        // Keep one mutant in eight: later inputs build on earlier mutations.
        if pick(8) == 0 {
            if pool.count < 512 { pool.append(input) } else { pool[pick(pool.count)] = input }
        }
        return input
    }

    private mutating func pick(_ n: Int) -> Int { n <= 1 ? 0 : Int(rng.next() % UInt64(n)) }

    private mutating func mutate(_ b: inout [UInt8]) {
        switch pick(10) {
        case 0 where !b.isEmpty:  // flip one bit
            b[pick(b.count)] ^= UInt8(1 << pick(8))
        case 1 where !b.isEmpty:  // a random byte
            b[pick(b.count)] = UInt8(truncatingIfNeeded: rng.next())
        case 2:  // a boundary value, 1/2/4/8 bytes little-endian
            let values: [UInt64] = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff,
                                    1 << 29, (1 << 29) - 1, 0x7fff_ffff_ffff_ffff, 0x8000_0000_0000_0000, .max, UInt64(bitPattern: -2)]
            let width = 1 << pick(4)
            let v = values[pick(values.count)]
            let at = pick(b.count + 1)
            let bytes = (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
            overwrite(&b, at: at, with: bytes)
        case 3:  // insert random bytes
            let at = pick(b.count + 1)
            b.insert(contentsOf: (0...pick(8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: at)
        case 4 where !b.isEmpty:  // delete a range
            let at = pick(b.count)
            b.removeSubrange(at..<min(b.count, at + 1 + pick(16)))
        case 5 where !b.isEmpty:  // copy a block elsewhere
            let from = pick(b.count), length = 1 + pick(min(64, b.count - from))
            let block = Array(b[from..<(from + length)])
            if pick(2) == 0 { b.insert(contentsOf: block, at: pick(b.count + 1)) } else { overwrite(&b, at: pick(b.count), with: block) }
        case 6:  // a dictionary token
            let words = target.dictionary
            guard !words.isEmpty else { return }
            let word = words[pick(words.count)]
            if pick(2) == 0 { b.insert(contentsOf: word, at: pick(b.count + 1)) } else { overwrite(&b, at: pick(b.count + 1), with: word) }
        case 7:  // splice with another pool entry
            let other = pool[pick(pool.count)]
            b = Array(b.prefix(pick(b.count + 1))) + Array(other.suffix(pick(other.count + 1)))
        case 8 where !b.isEmpty:  // truncate
            b.removeLast(1 + pick(b.count))
        case 9 where !b.isEmpty:  // nudge a byte
            let at = pick(b.count)
            b[at] = b[at] &+ UInt8(truncatingIfNeeded: pick(33) - 16)
        default:
            b.append(UInt8(truncatingIfNeeded: rng.next()))
        }
    }

    private func overwrite(_ b: inout [UInt8], at: Int, with bytes: [UInt8]) {
        for (i, v) in bytes.enumerated() {
            if at + i < b.count { b[at + i] = v } else { b.append(v) }
        }
    }
}
