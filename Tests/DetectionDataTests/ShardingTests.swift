import Testing
@testable import DetectionData

@Suite("Sharding")
struct ShardingTests {
    @Test("shards are disjoint, cover every sample once, and give every worker the same batch count",
          arguments: [1, 2, 3, 5], [7, 10, 23, 30])
    func coverage(workers: Int, datasetCount: Int) {
        let b = 3
        var seen = [Int](repeating: 0, count: datasetCount)
        var padTotal = 0
        var counts: Set<Int> = []
        for r in 0..<workers {
            let plan = EpochPlan(datasetCount: datasetCount, batchSize: b, shard: Shard(rank: r, count: workers), seed: 11, epoch: 2, shuffle: true, remainder: .pad)
            counts.insert(plan.batchesPerEpoch)
            for t in 0..<plan.batchesPerEpoch {
                let (idx, pad) = plan.indices(step: t)
                #expect(idx.count == b)
                padTotal += pad
                // Real (non-padding) positions come first; padding only at the tail.
                for i in idx.prefix(b - pad) { seen[i] += 1 }
            }
        }
        #expect(counts.count == 1)
        #expect(seen.allSatisfy { $0 == 1 })
        let global = b * workers
        #expect(padTotal == (global - datasetCount % global) % global)
    }

    @Test("the union of n workers' step-t batches is the single machine's step-t batch of n·b")
    func unionEqualsBigBatch() {
        let n = 3, b = 4, count = 50
        let single = EpochPlan(datasetCount: count, batchSize: n * b, shard: .single, seed: 5, epoch: 1, shuffle: true, remainder: .pad)
        for t in 0..<single.batchesPerEpoch {
            var union: [Int] = []
            for r in 0..<n {
                union += EpochPlan(datasetCount: count, batchSize: b, shard: Shard(rank: r, count: n), seed: 5, epoch: 1, shuffle: true, remainder: .pad).indices(step: t).indices
            }
            #expect(union == single.indices(step: t).indices)
        }
    }

    @Test("shuffle changes per epoch, is fixed by the seed, and drop leaves the tail out")
    func shuffleAndDrop() {
        let p = { (seed: UInt64, epoch: Int) in EpochPlan(datasetCount: 20, batchSize: 3, shard: .single, seed: seed, epoch: epoch, shuffle: true, remainder: .drop) }
        #expect(p(1, 0).permutation == p(1, 0).permutation)
        #expect(p(1, 0).permutation != p(1, 1).permutation)
        #expect(p(1, 0).permutation != p(2, 0).permutation)
        #expect(p(1, 0).batchesPerEpoch == 6)
        #expect(Set(p(1, 3).permutation) == Set(0..<20))
    }
}

@Suite("Sharded loaders")
struct ShardedLoaderTests {
    @Test("two workers' deterministic batches together equal one machine's doubled batch")
    func distSyncEquivalence() throws {
        let dir = try TestFiles.scratch("shardload")
        defer { TestFiles.remove(dir) }
        try SyntheticDataset(numClasses: 2, imageSize: 24, seed: 1).write(to: dir, trainCount: 7, validationCount: 0, formats: .recordIO)
        let ds = try openDetectionDataset(path: dir + "/train.rec")
        let single = try Loader(dataset: ds, batchSize: 4, imageShape: 8, labelWidth: 27, seed: 3, augment: false, shuffle: true, threads: 0)
        let workers = try (0..<2).map {
            try Loader(dataset: ds, batchSize: 2, imageShape: 8, labelWidth: 27, shard: Shard(rank: $0, count: 2), seed: 3, augment: false, shuffle: true, threads: 1)
        }
        #expect(single.batchesPerEpoch == 2 && workers.allSatisfy { $0.batchesPerEpoch == 2 })
        let s = single.epoch(5), w = workers.map { $0.epoch(5) }
        while let big = try s.next() {
            let parts = try w.map { try #require(try $0.next()) }
            #expect(parts[0].images + parts[1].images == big.images)
            #expect(parts[0].labels + parts[1].labels == big.labels)
            #expect(parts[0].pad + parts[1].pad == big.pad)
        }
    }
}
