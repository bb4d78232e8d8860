import Foundation
import Testing
@testable import FuzzTargets

/// The CI smoke of `make fuzz`: each target's committed corpus, then a few thousand seeded
/// mutants, through the same entry points libFuzzer calls. A decoder that traps kills the test
/// process, so a pass means no input here crashed.
@Suite("Fuzz smoke")
struct FuzzSmokeTests {
    static let corpusRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Fuzz/corpus").standardized.path

    @Test("the committed corpus holds every generated seed", arguments: FuzzTarget.allCases)
    func corpusIsCommitted(target: FuzzTarget) {
        let corpus = FuzzTarget.loadCorpus(Self.corpusRoot + "/" + target.rawValue)
        #expect(!corpus.isEmpty, "no corpus in Fuzz/corpus/\(target.rawValue): run ssd-fuzz \(target.rawValue) --write-seeds Fuzz/corpus/\(target.rawValue)")
        for seed in target.generatedSeeds { #expect(corpus.contains(seed), "a generated \(target.rawValue) seed is not in the corpus") }
    }

    @Test("corpus and 2000 mutants run without a crash", arguments: FuzzTarget.allCases)
    func smoke(target: FuzzTarget) {
        var loop = MutationLoop(target: target, seeds: FuzzTarget.loadCorpus(Self.corpusRoot + "/" + target.rawValue), seed: 2026)
        var inputs = 0, distinct = Set<[UInt8]>()
        loop.run(count: 2000) { inputs += 1; if distinct.count < 4000 { distinct.insert($0) } }
        #expect(inputs >= 2001)
        #expect(distinct.count > 1500, "mutations should mostly differ; \(distinct.count) distinct of \(inputs)")
    }

    @Test("the same seed gives the same mutants")
    func reproducible() {
        var a = MutationLoop(target: .params, seeds: FuzzTarget.params.generatedSeeds, seed: 5)
        var b = MutationLoop(target: .params, seeds: FuzzTarget.params.generatedSeeds, seed: 5)
        for _ in 0..<200 { #expect(a.next() == b.next()) }
    }
}
