// Winograd F(4×4) convolutions (the forward and input-gradient passes) by blocks: each thread
// takes whole blocks of tiles and runs all three passes of a block (input transform, the GEMMs,
// output transform) on its own, through its own V and M. The shared path instead runs one large
// chunk of tiles at a time with each pass split over the threads, which wait for each other after
// every pass; on the narrow layers (64 and 128 channels: few multiplies per transformed float)
// the transforms dominate, and those waits and the large chunks' cache misses cost more than the
// narrower GEMMs of a block (KernelBenchmarks' blocks column; Benchmarks/results/README.md,
// "Winograd by blocks"). The weight gradient keeps the shared chunks: by blocks, each thread's
// own dU sum was re-read and re-written for every block, and it measured no faster.

extension Winograd {
    /// Calls `body(firstTile, tiles, v, vStride, m, mStride, .serial)` for every block of `tiles`
    /// (all images' tiles in order) on `threading`'s GEMM threads, each taking the next block as it
    /// finishes one, through the running thread's own V (`positions` planes of C × block, `vStride`
    /// apart) and M (K × block, `mStride` apart), and returns true; returns false, calling nothing,
    /// where `blockTiles` gives no block size. Blocks must write disjoint memory.
    static func forEachBlock(
        tiles: Int, positions: Int, channels c: Int, outChannels k: Int, workspace: Conv2D.Workspace, threading: Threading,
        _ body: (_ firstTile: Int, _ tiles: Int, _ v: UnsafeMutablePointer<Float>, _ vStride: Int,
                 _ m: UnsafeMutablePointer<Float>, _ mStride: Int, _ threading: Threading) -> Void
    ) -> Bool {
        guard let block = blockTiles(tiles: tiles, positions: positions, channels: c, outChannels: k, workspace: workspace,
                                     threading: threading) else { return false }
        let vStride = planeStride(c * block), mStride = planeStride(k * block)
        let buffers = (0..<threading.gemmThreads).map {
            workspace.buffer(positions * (vStride + mStride), slot: Conv2D.Workspace.threadSlot($0, 0))
        }
        threading.forEachJob((tiles + block - 1) / block) { j, thread in
            let t0 = j * block, v = buffers[thread]
            body(t0, min(block, tiles - t0), v, vStride, v + positions * vStride, mStride, .serial)
        }
        return true
    }

    /// Tiles per block of a layer that runs by blocks, else nil. A layer runs so when the GEMMs
    /// run on their own threads (OpenBLAS single-threaded, more than one thread), the workspace
    /// sets `winogradBlockFloats` above 0 (a block's V, and its M, in that many floats), the
    /// layer has at most `winogradBlockMaximumChannels` input and output channels (wider layers'
    /// transformed weights, re-read for every block, cost more than the blocks gain), and there
    /// are at least as many blocks as threads.
    static func blockTiles(tiles: Int, positions: Int, channels c: Int, outChannels k: Int, workspace: Conv2D.Workspace,
                           threading: Threading) -> Int? {
        guard let floats = workspace.winogradBlockFloats, floats > 0, threading.gemmsOnOwnThreads, threading.threads > 1,
              max(c, k) <= workspace.winogradBlockMaximumChannels else { return nil }
        let block = max(8, floats / (positions * max(c, k)))
        return tiles >= block * threading.threads ? block : nil
    }
}

extension Conv2D.Workspace {
    /// Whether a layer of geometry `g` that runs as F(4×4) runs by blocks of tiles here (`Winograd.blockTiles`).
    public func winograd4x4RunsByBlocks(_ g: Conv2D.Geometry, threading: Threading) -> Bool {
        let tiles = g.batch * ((g.height + 3) / 4) * ((g.width + 3) / 4)
        return Winograd.blockTiles(tiles: tiles, positions: Winograd4x4.positions, channels: g.inChannels, outChannels: g.outChannels,
                                   workspace: self, threading: threading) != nil
    }
}
