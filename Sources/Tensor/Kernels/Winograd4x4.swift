// Winograd F(4×4, 3×3) for 3×3, stride 1, pad 1, dilation 1 convolutions (Lavin & Gray 2015,
// interpolation points 0, ±1, ±2, ∞): 36 multiplies per 4×4 output tile and channel pair instead
// of 144 direct (64 for four F(2×2) tiles), as 36 GEMMs; larger transforms and a somewhat larger
// Float32 rounding error than F(2×2).
// Legend: C input channels, K output channels, H×W map (same in and out), T tiles of 4×4
// outputs (⌈H/4⌉·⌈W/4⌉ per image), ξ = 0..<36 a position of the 6×6 transformed tile.
//   U[ξ] (K×C) = (G g Gᵀ)[ξ]   weights, G  = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1/24 1/12 ⅙; 1/24 −1/12 ⅙; 0 0 1]
//   V[ξ] (C×T) = (Bᵀ d B)[ξ]   input,   Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0;
//                                            0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//   M[ξ] (K×T) = U[ξ] · V[ξ]   sgemm
//   y (4×4)    = Aᵀ M A        output,  Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
// Weight gradient (the adjoints): dU[ξ] = Σₜ (A dYₜ Aᵀ)[ξ] · Vₜ[ξ]ᵀ, dW = Gᵀ dU G.
// Each 2-D transform is one 1-D transform applied down the columns, then along the rows, of a
// 6×6 block held in place; the same generic code runs on eight horizontally adjacent tiles at
// once (SIMD8, one tile per lane; a tile row's input rows are first staged with zero padding, so
// edge tiles and short rows take it too) or on eight (k, c) weight pairs, and on one (Float) for
// the weight pairs left over. The 36 planes of U, V, M and dU lie `Winograd.planeStride` apart.

/// The arithmetic the transforms use, so one definition serves a single tile (`Float`) and eight
/// tiles at once (`SIMD8<Float>`).
protocol WinogradLanes {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Float, b: Self) -> Self
}

extension Float: WinogradLanes {}
extension SIMD8: WinogradLanes where Scalar == Float {}

/// F(4×4, 3×3): the same three entry points as `Winograd`'s F(2×2) (forward, the input gradient
/// as a forward pass of the output gradient through the flipped kernel, the weight gradient).
enum Winograd4x4 {
    /// Positions of a transformed tile.
    static let positions = 36

    /// Whether F(4×4) suits an H×W map: it does fewer GEMM multiplies than F(2×2) there (36 per
    /// 4×4 tile against 16 per 2×2 tile, tiles cut at the map's edge; not so on maps of 1, 2, 5, 6
    /// pixels a side), and for the forward and input-gradient passes (not `weightGradient`) the map
    /// is at least 37 wide: on 19×19 (conv5_x, 5 tiles a row, so 5 of 8 lanes busy) F(4×4)'s
    /// forward ran ×0.91–×0.97 and its input gradient ×0.80 of F(2×2)'s, its weight gradient
    /// ×1.23–×2.07 (KernelBenchmarks, Benchmarks/results/README.md, "F(4×4) forward and input gradient").
    static func suits(height h: Int, width w: Int, weightGradient: Bool) -> Bool {
        (weightGradient || w >= 37) && 36 * ((h + 3) / 4) * ((w + 3) / 4) < 16 * ((h + 1) / 2) * ((w + 1) / 2)
    }

    // MARK: 1-D transforms

    /// Bᵀ d of a column of six.
    @inline(__always)
    static func input1D<T: WinogradLanes>(_ d0: T, _ d1: T, _ d2: T, _ d3: T, _ d4: T, _ d5: T) -> (T, T, T, T, T, T) {
        let p = d4 - 4 * d2, q = d3 - 4 * d1, r = d4 - d2, s = 2 * (d3 - d1)
        return (4 * d0 - 5 * d2 + d4, p + q, p - q, r + s, r - s, 4 * d1 - 5 * d3 + d5)
    }

    /// Aᵀ m of a column of six.
    @inline(__always)
    static func output1D<T: WinogradLanes>(_ m0: T, _ m1: T, _ m2: T, _ m3: T, _ m4: T, _ m5: T) -> (T, T, T, T) {
        let a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4
        return (m0 + a + c, b + 2 * e, a + 4 * c, b + 8 * e + m5)
    }

    /// G g of a column of three.
    @inline(__always)
    static func weight1D<T: WinogradLanes>(_ g0: T, _ g1: T, _ g2: T) -> (T, T, T, T, T, T) {
        let s = g0 + g2, t = (1 / 24 as Float) * g0 + (1 / 6 as Float) * g2, h = (1 / 12 as Float) * g1
        return ((1 / 4 as Float) * g0, (-1 / 6 as Float) * (s + g1), (-1 / 6 as Float) * (s - g1), t + h, t - h, g2)
    }

    /// A z (the adjoint of `output1D`) of a column of four.
    @inline(__always)
    static func gradient1D<T: WinogradLanes>(_ z0: T, _ z1: T, _ z2: T, _ z3: T) -> (T, T, T, T, T, T) {
        let a = z0 + z2, b = z1 + z3, c = z0 + 4 * z2, e = 2 * z1 + 8 * z3
        return (z0, a + b, a - b, c + e, c - e, z3)
    }

    /// Gᵀ x (the adjoint of `weight1D`) of a column of six.
    @inline(__always)
    static func weightGradient1D<T: WinogradLanes>(_ x0: T, _ x1: T, _ x2: T, _ x3: T, _ x4: T, _ x5: T) -> (T, T, T) {
        let s12 = x1 + x2, d12 = x2 - x1, s34 = x3 + x4, d34 = x3 - x4
        return ((1 / 4 as Float) * x0 - (1 / 6 as Float) * s12 + (1 / 24 as Float) * s34,
                (1 / 6 as Float) * d12 + (1 / 12 as Float) * d34,
                (1 / 6 as Float) * (s34 - s12) + x5)
    }

    // MARK: 2-D transforms of a 6×6 block b[i·6 + j], in place

    /// b ← Bᵀ b B.
    @inline(__always)
    static func input2D<T: WinogradLanes>(_ b: UnsafeMutablePointer<T>) {
        for j in 0..<6 {
            let r = input1D(b[j], b[6 + j], b[12 + j], b[18 + j], b[24 + j], b[30 + j])
            b[j] = r.0; b[6 + j] = r.1; b[12 + j] = r.2; b[18 + j] = r.3; b[24 + j] = r.4; b[30 + j] = r.5
        }
        for i in stride(from: 0, to: 36, by: 6) {
            let r = input1D(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5])
            b[i] = r.0; b[i + 1] = r.1; b[i + 2] = r.2; b[i + 3] = r.3; b[i + 4] = r.4; b[i + 5] = r.5
        }
    }

    /// Rows 0..<4, columns 0..<4 of b ← Aᵀ b A.
    @inline(__always)
    static func output2D<T: WinogradLanes>(_ b: UnsafeMutablePointer<T>) {
        for j in 0..<6 {
            let r = output1D(b[j], b[6 + j], b[12 + j], b[18 + j], b[24 + j], b[30 + j])
            b[j] = r.0; b[6 + j] = r.1; b[12 + j] = r.2; b[18 + j] = r.3
        }
        for i in stride(from: 0, to: 24, by: 6) {
            let r = output1D(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5])
            b[i] = r.0; b[i + 1] = r.1; b[i + 2] = r.2; b[i + 3] = r.3
        }
    }

    /// b ← G b Gᵀ, b's rows and columns 0..<3 in, the whole block out.
    @inline(__always)
    static func weight2D<T: WinogradLanes>(_ b: UnsafeMutablePointer<T>) {
        for j in 0..<3 {
            let r = weight1D(b[j], b[6 + j], b[12 + j])
            b[j] = r.0; b[6 + j] = r.1; b[12 + j] = r.2; b[18 + j] = r.3; b[24 + j] = r.4; b[30 + j] = r.5
        }
        for i in stride(from: 0, to: 36, by: 6) {
            let r = weight1D(b[i], b[i + 1], b[i + 2])
            b[i] = r.0; b[i + 1] = r.1; b[i + 2] = r.2; b[i + 3] = r.3; b[i + 4] = r.4; b[i + 5] = r.5
        }
    }

    /// b ← A b Aᵀ, b's rows and columns 0..<4 in, the whole block out.
    @inline(__always)
    static func gradient2D<T: WinogradLanes>(_ b: UnsafeMutablePointer<T>) {
        for j in 0..<4 {
            let r = gradient1D(b[j], b[6 + j], b[12 + j], b[18 + j])
            b[j] = r.0; b[6 + j] = r.1; b[12 + j] = r.2; b[18 + j] = r.3; b[24 + j] = r.4; b[30 + j] = r.5
        }
        for i in stride(from: 0, to: 36, by: 6) {
            let r = gradient1D(b[i], b[i + 1], b[i + 2], b[i + 3])
            b[i] = r.0; b[i + 1] = r.1; b[i + 2] = r.2; b[i + 3] = r.3; b[i + 4] = r.4; b[i + 5] = r.5
        }
    }

    /// Rows and columns 0..<3 of b ← Gᵀ b G.
    @inline(__always)
    static func weightGradient2D<T: WinogradLanes>(_ b: UnsafeMutablePointer<T>) {
        for j in 0..<6 {
            let r = weightGradient1D(b[j], b[6 + j], b[12 + j], b[18 + j], b[24 + j], b[30 + j])
            b[j] = r.0; b[6 + j] = r.1; b[12 + j] = r.2
        }
        for i in stride(from: 0, to: 18, by: 6) {
            let r = weightGradient1D(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5])
            b[i] = r.0; b[i + 1] = r.1; b[i + 2] = r.2
        }
    }

    // MARK: Eight tiles of one row at once

    /// Columns j = 0..<`count` (4 or 6) of eight horizontally adjacent tiles whose patches start
    /// 4 columns apart at `row`: lane q of `into[j]` is row[4q + j] (reads row[0 … 31], and
    /// row[2 … 33] for six columns).
    @inline(__always)
    static func loadEightTiles(_ row: UnsafePointer<Float>, columns count: Int, into b: UnsafeMutablePointer<SIMD8<Float>>) {
        let a = UnsafeRawPointer(row).loadUnaligned(as: SIMD32<Float>.self)
        let even = a.evenHalf, odd = a.oddHalf
        b[0] = even.evenHalf; b[1] = odd.evenHalf; b[2] = even.oddHalf; b[3] = odd.oddHalf
        if count == 6 {
            let c = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD32<Float>.self)
            b[4] = c.evenHalf.oddHalf; b[5] = c.oddHalf.oddHalf
        }
    }

    /// Writes (or adds) 32 outputs at `out`: lane q of `b[j]` (j = 0..<4) to out[4q + j], plus `bias`,
    /// `ReLU.rectified` with `rectify`
    /// — tile q's four outputs as one SIMD4. (Built with SIMD32's `evenHalf`/`oddHalf` setters
    /// instead, this copied the whole vector once per element: 9% of a conv4_2 KernelBenchmarks
    /// run went to it, more than to the input transform and the weight transform together.)
    @inline(__always)
    static func storeEightTiles(_ b: UnsafeMutablePointer<SIMD8<Float>>, into out: UnsafeMutablePointer<Float>,
                                bias: Float, accumulate: Bool, rectify: Bool = false) {
        let bias4 = SIMD4<Float>(repeating: bias)
        for q in 0..<8 {
            var tile = SIMD4<Float>(b[0][q], b[1][q], b[2][q], b[3][q]) + bias4
            let p = UnsafeMutableRawPointer(out + 4 * q)
            if accumulate { tile += p.loadUnaligned(as: SIMD4<Float>.self) }
            if rectify { tile = ReLU.rectified(tile) }
            p.storeBytes(of: tile, as: SIMD4<Float>.self)
        }
    }

    /// Lanes 0..<`lanes` of `b[0..<count]` to the planes at `out`, `out + planeStride`, … (whole
    /// vectors when all eight lanes are tiles of the run).
    @inline(__always)
    static func storeLanes(_ b: UnsafeMutablePointer<SIMD8<Float>>, count: Int, lanes: Int, into out: UnsafeMutablePointer<Float>,
                           planeStride: Int) {
        if lanes == 8 {
            for xi in 0..<count { UnsafeMutableRawPointer(out + xi * planeStride).storeBytes(of: b[xi], as: SIMD8<Float>.self) }
        } else {
            for xi in 0..<count { for l in 0..<lanes { out[xi * planeStride + l] = b[xi][l] } }
        }
    }

    /// `b[0..<count]` from the planes at `m`, `m + planeStride`, …: lanes 0..<`lanes`, zero beyond.
    @inline(__always)
    static func loadLanes(_ m: UnsafePointer<Float>, count: Int, lanes: Int, planeStride: Int, into b: UnsafeMutablePointer<SIMD8<Float>>) {
        if lanes == 8 {
            for xi in 0..<count { b[xi] = UnsafeRawPointer(m + xi * planeStride).loadUnaligned(as: SIMD8<Float>.self) }
        } else {
            for xi in 0..<count {
                var s = SIMD8<Float>()
                for l in 0..<lanes { s[l] = m[xi * planeStride + l] }
                b[xi] = s
            }
        }
    }

    /// Floats of a staged row of a map `tilesX` tiles wide: the eight-tile loads of its last
    /// group read up to 4·(tilesX − 1) + 34 columns.
    static func stagedRowLength(tilesX: Int) -> Int { 4 * tilesX + 32 }

    /// Copies rows `firstRow` ..< `firstRow + rows` of an H×W `plane` to `staged` (`rowLength`
    /// apart), each behind `leftPad` zeros and zero-filled to `rowLength`; rows outside the map
    /// are all zero. Every tile of a tile row then reads its patch from `staged`, so edge tiles
    /// take the eight-lane transforms too.
    @inline(__always)
    static func stage(_ plane: UnsafePointer<Float>, height h: Int, width w: Int, firstRow: Int, rows: Int, leftPad: Int,
                      into staged: UnsafeMutablePointer<Float>, rowLength: Int) {
        for i in 0..<rows {
            let row = staged + i * rowLength, y = firstRow + i
            guard y >= 0 && y < h else {
                row.update(repeating: 0, count: rowLength)
                continue
            }
            row.update(repeating: 0, count: leftPad)
            (row + leftPad).update(from: plane + y * w, count: w)
            (row + leftPad + w).update(repeating: 0, count: rowLength - leftPad - w)
        }
    }

    /// Calls `body(t, image, tileRow, firstColumn, count)` for the runs of a chunk's tiles
    /// `firstTile` ..< `firstTile + tiles` that lie in one tile row: tiles t ..< t + count of the
    /// chunk are tile columns firstColumn ..< firstColumn + count of that row.
    @inline(__always)
    static func forEachRun(firstTile t0: Int, tiles n: Int, tilesX: Int, perImage: Int,
                           _ body: (_ t: Int, _ image: Int, _ tileRow: Int, _ firstColumn: Int, _ count: Int) -> Void) {
        var t = 0
        while t < n {
            let image = (t0 + t) / perImage, tile = (t0 + t) % perImage, column = tile % tilesX
            let count = min(n - t, tilesX - column)
            body(t, image, tile / tilesX, column, count)
            t += count
        }
    }

    /// The staged eight-tile pass both tile transforms share: for each map `m` of `maps` (planes of
    /// `maps` channels per image in `source`), each run of the chunk's tiles `firstTile` ..<
    /// `firstTile + tiles` is staged `patch` rows at a time (from row 4·tileRow − `pad`, behind
    /// `pad` zero columns), and eight tiles at a time their `patch`×`patch` patches are loaded
    /// into lanes (row i at lane block 6·i), `transform`ed, and stored as 36 planes of `tiles`
    /// columns at `into + m·tiles` (`planeStride` apart). Maps split over the threads.
    @inline(__always)
    static func transformTiles(_ source: UnsafePointer<Float>, maps: Int, height h: Int, width w: Int, firstTile t0: Int, tiles n: Int,
                               patch: Int, pad: Int, into out: UnsafeMutablePointer<Float>, planeStride step: Int, threading: Threading,
                               _ transform: (UnsafeMutablePointer<SIMD8<Float>>) -> Void) {
        let tilesX = (w + 3) / 4, perImage = ((h + 3) / 4) * tilesX, rowLength = stagedRowLength(tilesX: tilesX)
        threading.forEachChunk(maps, minimumPerChunk: 8) { range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: patch * rowLength) { staged in
                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { lanes in
                    let rows = staged.baseAddress!, b8 = lanes.baseAddress!
                    for m in range {
                        forEachRun(firstTile: t0, tiles: n, tilesX: tilesX, perImage: perImage) { t, image, tileRow, firstColumn, count in
                            stage(source + (image * maps + m) * h * w, height: h, width: w, firstRow: 4 * tileRow - pad, rows: patch,
                                  leftPad: pad, into: rows, rowLength: rowLength)
                            var q = 0
                            while q < count {
                                for i in 0..<patch { loadEightTiles(rows + i * rowLength + 4 * (firstColumn + q), columns: patch, into: b8 + 6 * i) }
                                transform(b8)
                                storeLanes(b8, count: 36, lanes: min(8, count - q), into: out + m * n + t + q, planeStride: step)
                                q += 8
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: Weights

    /// U: 36 planes (`Winograd.planeStride(K·C)` apart) of K×C transformed weights of `weight`:
    /// K×C×3×3, or with `flipped` the C×K×3×3 kernel whose flipped transpose the convolution
    /// applies (the input gradient's: U[ξ][k][c] from weight[c][k] rotated by 180°), read in place.
    /// Eight (k, c) pairs at a time, one per lane, so each plane gets whole vectors.
    static func transformWeights(_ weight: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int, flipped: Bool,
                                 into u: UnsafeMutablePointer<Float>, threading: Threading) {
        let stride = Winograd.planeStride(k * c)
        /// The 3×3 kernel of pair kc (k·C + c): its element e (0..<9, row-major) is g[e], or g[8 − e] flipped.
        @inline(__always) func kernel(_ kc: Int) -> UnsafePointer<Float> {
            flipped ? weight + ((kc % c) * k + kc / c) * 9 : weight + kc * 9
        }
        threading.forEachChunk(k * c, minimumPerChunk: 1024) { pairs in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { lanes in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 36) { one in
                    let b8 = lanes.baseAddress!, b1 = one.baseAddress!
                    var kc = pairs.lowerBound
                    while kc + 8 <= pairs.upperBound {
                        for q in 0..<8 {
                            let g = kernel(kc + q)
                            for e in 0..<9 { b8[e / 3 * 6 + e % 3][q] = g[flipped ? 8 - e : e] }
                        }
                        weight2D(b8)
                        for xi in 0..<36 { UnsafeMutableRawPointer(u + xi * stride + kc).storeBytes(of: b8[xi], as: SIMD8<Float>.self) }
                        kc += 8
                    }
                    for kc in kc..<pairs.upperBound {
                        let g = kernel(kc)
                        for e in 0..<9 { b1[e / 3 * 6 + e % 3] = g[flipped ? 8 - e : e] }
                        weight2D(b1)
                        for xi in 0..<36 { u[xi * stride + kc] = b1[xi] }
                    }
                }
            }
        }
    }

    // MARK: Forward

    /// `output (+)= conv3x3(input, weights whose transform is u) + bias` for `batch` images, C → K
    /// channels on an H×W map; the tiles of all images share the GEMMs, chunk by chunk — or, where
    /// `Winograd.blockTiles` says, each thread runs whole blocks of tiles on its own (`Winograd.forEachBlock`).
    /// `accumulate` adds to `output` instead of overwriting it; `rectify` writes `max(b + y, 0)`.
    static func convolve(
        batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        transformedWeights u: UnsafePointer<Float>, outChannels k: Int,
        bias: UnsafePointer<Float>?, rectify: Bool = false, output y: UnsafeMutablePointer<Float>, accumulate: Bool,
        workspace: Conv2D.Workspace, threading: Threading
    ) {
        let tiles = batch * ((h + 3) / 4) * ((w + 3) / 4)
        func chunk(_ t0: Int, _ n: Int, _ v: UnsafeMutablePointer<Float>, _ vStride: Int, _ m: UnsafeMutablePointer<Float>, _ mStride: Int,
                   _ threading: Threading) {
            convolveChunk(firstTile: t0, tiles: n, input: x, channels: c, height: h, width: w, transformedWeights: u, outChannels: k,
                          bias: bias, rectify: rectify, output: y, accumulate: accumulate, v: v, vStride: vStride, m: m, mStride: mStride,
                          threading: threading)
        }
        if Winograd.forEachBlock(tiles: tiles, positions: positions, channels: c, outChannels: k, workspace: workspace,
                                 threading: threading, chunk) {
            return
        }
        let (size, v, vStride, m, mStride) = Winograd.chunkBuffers(tiles: tiles, positions: positions, channels: c, outChannels: k,
                                                                    workspace: workspace)
        var t0 = 0
        while t0 < tiles {
            let n = min(size, tiles - t0)
            chunk(t0, n, v, vStride, m, mStride, threading)
            t0 += n
        }
    }

    /// `convolve` of tiles `firstTile` ..< `firstTile + tiles` (of all images in order), through
    /// V (36 planes `vStride` apart) and M (`mStride` apart), each of its three passes over `threading`.
    static func convolveChunk(
        firstTile t0: Int, tiles n: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        transformedWeights u: UnsafePointer<Float>, outChannels k: Int, bias: UnsafePointer<Float>?, rectify: Bool,
        output y: UnsafeMutablePointer<Float>, accumulate: Bool,
        v: UnsafeMutablePointer<Float>, vStride: Int, m: UnsafeMutablePointer<Float>, mStride: Int, threading: Threading
    ) {
        let tilesX = (w + 3) / 4, perImage = ((h + 3) / 4) * tilesX, uStride = Winograd.planeStride(k * c)
        transformInput(x, channels: c, height: h, width: w, firstTile: t0, tiles: n, into: v, planeStride: vStride, threading: threading)
        // M[ξ] = U[ξ] · V[ξ].
        threading.forEachJob(positions) { xi, _ in
            Gemm.sgemm(m: k, n: n, k: c, a: u + xi * uStride, lda: c, b: v + xi * vStride, ldb: n, beta: 0, c: m + xi * mStride, ldc: n)
        }
        // y = Aᵀ M A, eight tiles of a tile row at a time, cut at the map's edge.
        threading.forEachChunk(k, minimumPerChunk: 8) { outs in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { lanes in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { cut in
                    let b8 = lanes.baseAddress!, part = cut.baseAddress!
                    for ko in outs {
                        let b = bias?[ko] ?? 0
                        forEachRun(firstTile: t0, tiles: n, tilesX: tilesX, perImage: perImage) { t, image, tileRow, firstColumn, count in
                            let plane = y + (image * k + ko) * h * w, oy = 4 * tileRow
                            var q = 0
                            while q < count {
                                let ox = 4 * (firstColumn + q), columns = min(4 * min(8, count - q), w - ox)
                                loadLanes(m + ko * n + t + q, count: 36, lanes: min(8, count - q), planeStride: mStride, into: b8)
                                output2D(b8)
                                for i in 0..<min(4, h - oy) {
                                    let out = plane + (oy + i) * w + ox
                                    if columns == 32 {
                                        storeEightTiles(b8 + 6 * i, into: out, bias: b, accumulate: accumulate, rectify: rectify)
                                    } else {
                                        storeEightTiles(b8 + 6 * i, into: part, bias: b, accumulate: false, rectify: rectify)
                                        for j in 0..<columns { out[j] = accumulate ? out[j] + part[j] : part[j] }
                                    }
                                }
                                q += 8
                            }
                        }
                    }
                }
            }
        }
    }

    /// V[ξ][c][t] (36 planes of C × `tiles`, `planeStride` apart): Bᵀ d B of the 6×6 input patch of
    /// each tile `firstTile` … `firstTile + tiles − 1` (tiles of all images in order; zero outside the map).
    static func transformInput(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                               firstTile t0: Int, tiles n: Int, into v: UnsafeMutablePointer<Float>, planeStride step: Int,
                               threading: Threading) {
        // The tile's 6×6 input patch, column −1 and row −1 first (zero outside the map).
        transformTiles(x, maps: c, height: h, width: w, firstTile: t0, tiles: n, patch: 6, pad: 1, into: v, planeStride: step,
                       threading: threading) { input2D($0) }
    }

    // MARK: Weight gradient

    /// `gradWeight += ∂L/∂W` of a 3×3 stride-1 pad-1 convolution, from its input and output
    /// gradient: dU[ξ] (K×C) = Σₜ (A dYₜ Aᵀ)[ξ] · Vₜ[ξ]ᵀ (36 GEMMs over the tiles, chunk by chunk),
    /// then dW = Gᵀ dU G per (k, c).
    static func weightGradient(
        batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        gradOutput dy: UnsafePointer<Float>, outChannels k: Int, gradWeight dw: UnsafeMutablePointer<Float>,
        workspace: Conv2D.Workspace, threading: Threading
    ) {
        let tiles = batch * ((h + 3) / 4) * ((w + 3) / 4)
        let (chunk, v, vStride, dm, step) = Winograd.chunkBuffers(tiles: tiles, positions: positions, channels: c, outChannels: k,
                                                                   workspace: workspace)
        let plane = k * c, duStride = Winograd.planeStride(plane)
        let du = workspace.buffer(positions * duStride, slot: 1)
        du.update(repeating: 0, count: positions * duStride)
        var t0 = 0
        while t0 < tiles {
            let n = min(chunk, tiles - t0)
            transformInput(x, channels: c, height: h, width: w, firstTile: t0, tiles: n, into: v, planeStride: vStride, threading: threading)
            // dM[ξ][k][t] = A dY Aᵀ of each 4×4 output-gradient tile (zero beyond the map), eight at a time.
            transformTiles(dy, maps: k, height: h, width: w, firstTile: t0, tiles: n, patch: 4, pad: 0, into: dm, planeStride: step,
                           threading: threading) { gradient2D($0) }
            threading.forEachJob(positions) { xi, _ in
                Gemm.sgemm(transB: true, m: k, n: c, k: n, a: dm + xi * step, lda: n, b: v + xi * vStride, ldb: n, beta: 1,
                           c: du + xi * duStride, ldc: c)
            }
            t0 += n
        }
        // dW += Gᵀ dU G, eight (k, c) pairs at a time, one per lane.
        threading.forEachChunk(plane, minimumPerChunk: 1024) { pairs in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { lanes in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 36) { one in
                    let b8 = lanes.baseAddress!, b1 = one.baseAddress!
                    var kc = pairs.lowerBound
                    while kc + 8 <= pairs.upperBound {
                        for xi in 0..<36 { b8[xi] = UnsafeRawPointer(du + xi * duStride + kc).loadUnaligned(as: SIMD8<Float>.self) }
                        weightGradient2D(b8)
                        for q in 0..<8 {
                            let g = dw + (kc + q) * 9
                            for i in 0..<3 { for j in 0..<3 { g[i * 3 + j] += b8[i * 6 + j][q] } }
                        }
                        kc += 8
                    }
                    for kc in kc..<pairs.upperBound {
                        for xi in 0..<36 { b1[xi] = du[xi * duStride + kc] }
                        weightGradient2D(b1)
                        let g = dw + kc * 9
                        for i in 0..<3 { for j in 0..<3 { g[i * 3 + j] += b1[i * 6 + j] } }
                    }
                }
            }
        }
    }
}
