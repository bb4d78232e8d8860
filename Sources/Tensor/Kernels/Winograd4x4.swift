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
// 6×6 block held in place; the same generic code runs one tile (Float) or eight horizontally
// adjacent tiles at once (SIMD8, one tile per lane).

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
    /// pixels a side) and the map is at least 37 wide, so that most tiles take the eight-tile
    /// vector transforms (on narrower maps every tile takes the scalar ones: conv5_1's 19×19 weight
    /// gradient ran ×0.79 of F(2×2)'s, KernelBenchmarks).
    static func suits(height h: Int, width w: Int) -> Bool {
        w >= 37 && 36 * ((h + 3) / 4) * ((w + 3) / 4) < 16 * ((h + 1) / 2) * ((w + 1) / 2)
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

    /// Writes (or adds) 32 outputs at `out`: lane q of `b[j]` (j = 0..<4) to out[4q + j], plus `bias`.
    @inline(__always)
    static func storeEightTiles(_ b: UnsafeMutablePointer<SIMD8<Float>>, into out: UnsafeMutablePointer<Float>,
                                bias: Float, accumulate: Bool) {
        var low = SIMD16<Float>(), high = SIMD16<Float>(), row = SIMD32<Float>()
        low.evenHalf = b[0]; low.oddHalf = b[2]; high.evenHalf = b[1]; high.oddHalf = b[3]
        row.evenHalf = low; row.oddHalf = high
        let p = UnsafeMutableRawPointer(out)
        row += SIMD32<Float>(repeating: bias)
        if accumulate { row += p.loadUnaligned(as: SIMD32<Float>.self) }
        p.storeBytes(of: row, as: SIMD32<Float>.self)
    }

    // MARK: Weights

    /// U: 36 × K × C transformed weights of `weight` (K×C×3×3).
    static func transformWeights(_ weight: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int,
                                 into u: UnsafeMutablePointer<Float>, threading: Threading) {
        let plane = k * c
        threading.forEachChunk(plane, minimumPerChunk: 1024) { pairs in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 36) { scratch in
                let b = scratch.baseAddress!
                for kc in pairs {
                    let g = weight + kc * 9
                    for i in 0..<3 { for j in 0..<3 { b[i * 6 + j] = g[i * 3 + j] } }
                    weight2D(b)
                    for xi in 0..<36 { u[xi * plane + kc] = b[xi] }
                }
            }
        }
    }

    // MARK: Forward

    /// `output (+)= conv3x3(input, weights whose transform is u) + bias` for `batch` images, C → K
    /// channels on an H×W map; the tiles of all images share the GEMMs, chunk by chunk.
    /// `accumulate` adds to `output` instead of overwriting it.
    static func convolve(
        batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        transformedWeights u: UnsafePointer<Float>, outChannels k: Int,
        bias: UnsafePointer<Float>?, output y: UnsafeMutablePointer<Float>, accumulate: Bool,
        workspace: Conv2D.Workspace, threading: Threading
    ) {
        let tilesX = (w + 3) / 4, perImage = ((h + 3) / 4) * tilesX, tiles = batch * perImage
        let (chunk, v, m) = Winograd.chunkBuffers(tiles: tiles, positions: positions, channels: c, outChannels: k, workspace: workspace)
        var t0 = 0
        while t0 < tiles {
            let n = min(chunk, tiles - t0)
            transformInput(x, channels: c, height: h, width: w, firstTile: t0, tiles: n, into: v, threading: threading)
            // M[ξ] = U[ξ] · V[ξ].
            threading.forEachJob(positions) { xi, _ in
                Gemm.sgemm(m: k, n: n, k: c, a: u + xi * k * c, lda: c, b: v + xi * c * n, ldb: n, beta: 0, c: m + xi * k * n, ldc: n)
            }
            // y = Aᵀ M A per tile, cut at the map's edge.
            threading.forEachChunk(k, minimumPerChunk: 8) { outs in
                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { lanes in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 36) { one in
                        let b8 = lanes.baseAddress!, b1 = one.baseAddress!
                        for ko in outs {
                            let b = bias?[ko] ?? 0, step = k * n
                            var t = 0
                            while t < n {
                                let image = (t0 + t) / perImage, tile = (t0 + t) % perImage
                                let plane = y + (image * k + ko) * h * w
                                let tx = tile % tilesX, oy = (tile / tilesX) * 4, ox = tx * 4
                                let at = m + ko * n + t
                                // Eight tiles of one row inside the map (they write columns ox … ox + 31).
                                if t + 8 <= n && tx + 8 <= tilesX && oy + 3 < h && ox + 31 < w {
                                    for xi in 0..<36 { b8[xi] = UnsafeRawPointer(at + xi * step).loadUnaligned(as: SIMD8<Float>.self) }
                                    output2D(b8)
                                    for i in 0..<4 {
                                        storeEightTiles(b8 + 6 * i, into: plane + (oy + i) * w + ox, bias: b, accumulate: accumulate)
                                    }
                                    t += 8
                                    continue
                                }
                                for xi in 0..<36 { b1[xi] = at[xi * step] }
                                output2D(b1)
                                for i in 0..<min(4, h - oy) {
                                    let row = plane + (oy + i) * w + ox
                                    for j in 0..<min(4, w - ox) {
                                        row[j] = (accumulate ? row[j] : 0) + b + b1[i * 6 + j]
                                    }
                                }
                                t += 1
                            }
                        }
                    }
                }
            }
            t0 += n
        }
    }

    /// V[ξ][c][t] (36 × C × `tiles`): Bᵀ d B of the 6×6 input patch of each tile `firstTile` …
    /// `firstTile + tiles − 1` (tiles of all images in order; zero outside the map).
    static func transformInput(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                               firstTile t0: Int, tiles n: Int, into v: UnsafeMutablePointer<Float>, threading: Threading) {
        let tilesX = (w + 3) / 4, perImage = ((h + 3) / 4) * tilesX
        threading.forEachChunk(c, minimumPerChunk: 8) { channels in
            withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { lanes in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 36) { one in
                    let b8 = lanes.baseAddress!, b1 = one.baseAddress!
                    for ci in channels {
                        var t = 0
                        while t < n {
                            let image = (t0 + t) / perImage, tile = (t0 + t) % perImage
                            let plane = x + (image * c + ci) * h * w
                            let tx = tile % tilesX, oy = (tile / tilesX) * 4 - 1, ox = tx * 4 - 1
                            let at = v + ci * n + t, step = c * n
                            // Eight tiles of one row inside the map (they read columns ox … ox + 33).
                            if t + 8 <= n && tx + 8 <= tilesX && oy >= 0 && oy + 5 < h && ox >= 0 && ox + 33 < w {
                                for i in 0..<6 { loadEightTiles(plane + (oy + i) * w + ox, columns: 6, into: b8 + 6 * i) }
                                input2D(b8)
                                for xi in 0..<36 { UnsafeMutableRawPointer(at + xi * step).storeBytes(of: b8[xi], as: SIMD8<Float>.self) }
                                t += 8
                                continue
                            }
                            for i in 0..<6 {
                                let yy = oy + i
                                for j in 0..<6 {
                                    let xx = ox + j
                                    b1[i * 6 + j] = yy >= 0 && yy < h && xx >= 0 && xx < w ? plane[yy * w + xx] : 0
                                }
                            }
                            input2D(b1)
                            for xi in 0..<36 { at[xi * step] = b1[xi] }
                            t += 1
                        }
                    }
                }
            }
        }
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
        let tilesX = (w + 3) / 4, perImage = ((h + 3) / 4) * tilesX, tiles = batch * perImage
        let (chunk, v, dm) = Winograd.chunkBuffers(tiles: tiles, positions: positions, channels: c, outChannels: k, workspace: workspace)
        let du = workspace.buffer(positions * k * c, slot: 1)
        du.update(repeating: 0, count: positions * k * c)
        var t0 = 0
        while t0 < tiles {
            let n = min(chunk, tiles - t0)
            transformInput(x, channels: c, height: h, width: w, firstTile: t0, tiles: n, into: v, threading: threading)
            // dM[ξ][k][t] = A dY Aᵀ of each 4×4 output-gradient tile (zero beyond the map).
            threading.forEachChunk(k, minimumPerChunk: 8) { outs in
                withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 36) { lanes in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 36) { one in
                        let b8 = lanes.baseAddress!, b1 = one.baseAddress!
                        for ko in outs {
                            var t = 0
                            while t < n {
                                let image = (t0 + t) / perImage, tile = (t0 + t) % perImage
                                let plane = dy + (image * k + ko) * h * w
                                let tx = tile % tilesX, oy = (tile / tilesX) * 4, ox = tx * 4
                                let at = dm + ko * n + t, step = k * n
                                // Eight tiles of one row inside the map (they read columns ox … ox + 31).
                                if t + 8 <= n && tx + 8 <= tilesX && oy + 3 < h && ox + 31 < w {
                                    for i in 0..<4 { loadEightTiles(plane + (oy + i) * w + ox, columns: 4, into: b8 + 6 * i) }
                                    gradient2D(b8)
                                    for xi in 0..<36 { UnsafeMutableRawPointer(at + xi * step).storeBytes(of: b8[xi], as: SIMD8<Float>.self) }
                                    t += 8
                                    continue
                                }
                                for i in 0..<4 {
                                    for j in 0..<4 {
                                        b1[i * 6 + j] = oy + i < h && ox + j < w ? plane[(oy + i) * w + ox + j] : 0
                                    }
                                }
                                gradient2D(b1)
                                for xi in 0..<36 { at[xi * step] = b1[xi] }
                                t += 1
                            }
                        }
                    }
                }
            }
            threading.forEachJob(positions) { xi, _ in
                Gemm.sgemm(transB: true, m: k, n: c, k: n, a: dm + xi * k * n, lda: n, b: v + xi * c * n, ldb: n, beta: 1,
                           c: du + xi * k * c, ldc: c)
            }
            t0 += n
        }
        let plane = k * c
        threading.forEachChunk(plane, minimumPerChunk: 1024) { pairs in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 36) { scratch in
                let b = scratch.baseAddress!
                for kc in pairs {
                    for xi in 0..<36 { b[xi] = du[xi * plane + kc] }
                    weightGradient2D(b)
                    let g = dw + kc * 9
                    for i in 0..<3 { for j in 0..<3 { g[i * 3 + j] += b[i * 6 + j] } }
                }
            }
        }
    }
}
