import Foundation
import TestSupport

/// Loads `Fixtures/<name>.bin` written by scripts/fixtures/make_tensor_kernels.py.
func kernelFixture(_ name: String) throws -> Fixture {
    guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
        throw Fixture.LoadError.unreadable(path: "Fixtures/\(name).bin (resource folder missing)")
    }
    return try Fixture(contentsOf: dir.appendingPathComponent("\(name).bin"))
}

/// The case names of a fixture (every array `<case>/params`), sorted.
func fixtureCases(_ fixture: Fixture) -> [String] {
    fixture.arrays.keys.filter { $0.hasSuffix("/params") }.map { String($0.dropLast("/params".count)) }.sorted()
}

/// Integer geometry of a case.
func fixtureParams(_ fixture: Fixture, _ name: String) throws -> [Int] {
    try fixture.values("\(name)/params").map { Int($0) }
}

/// A reproducible random vector in [-1, 1).
func randomValues(_ count: Int, seed: UInt64, low: Float = -1, high: Float = 1) -> [Float] {
    var g = SeededGeneratorForTests(seed: seed)
    return (0..<count).map { _ in g.uniform(low, high) }
}

import Tensor
typealias SeededGeneratorForTests = SeededGenerator
