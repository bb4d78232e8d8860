// Winograd F(2×2, 3×3) for 3×3, stride 1, pad 1, dilation 1 convolutions (Lavin & Gray 2015):
// 16 multiplies per 2×2 output tile and channel pair instead of 36, as 16 GEMMs.
// Legend: C input channels, K output channels, H×W map (same in and out), T tiles of 2×2
// outputs (⌈H/2⌉·⌈W/2⌉ per image), ξ = 0..<16 a position of the 4×4 transformed tile.
//   U[ξ] (K×C) = (G g Gᵀ)[ξ]     weights,  G  = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]
//   V[ξ] (C×T) = (Bᵀ d B)[ξ]     input,    Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1]
//   M[ξ] (K×T) = U[ξ] · V[ξ]     sgemm
//   y (2×2)    = Aᵀ M A          output,   Aᵀ = [1 1 1 0; 0 1 −1 −1]
// Weight gradient (the adjoints): dU[ξ] = Σₜ (A dYₜ Aᵀ)[ξ] · Vₜ[ξ]ᵀ, dW = Gᵀ dU G.

/// The Winograd path of `Conv2D` for 3×3 stride-1 pad-1 layers: forward, the input gradient
/// (a forward pass of the output gradient through the flipped, transposed kernel) and the
/// weight gradient, as F(2×2, 3×3) (here) or F(4×4, 3×3) (`Winograd4x4`). Which layers take
/// which is the `Conv2D.Workspace`'s choice.
enum Winograd {
    /// The two tile sizes: F(2×2, 3×3) here, F(4×4, 3×3) in `Winograd4x4`.
    enum Algorithm: Hashable {
        case f2x2, f4x4

        /// Positions of a transformed tile (16 or 36): the GEMMs per chunk of tiles.
        var positions: Int { self == .f2x2 ? 16 : Winograd4x4.positions }
    }

    /// `output = conv3x3(input, weight) + bias` for `g` (a geometry `applies(to:)` accepts);
    /// `rectify`: `max(·, 0)` of that, applied in the output transform (no pass of its own).
    static func forward(_ algorithm: Algorithm, _ g: Conv2D.Geometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, rectify: Bool = false, output y: UnsafeMutablePointer<Float>,
                        workspace: Conv2D.Workspace, threading: Threading) {
        convolve(algorithm, batch: g.batch, input: x, channels: g.inChannels, height: g.height, width: g.width, weight: w,
                 outChannels: g.outChannels, bias: bias, rectify: rectify, output: y, accumulate: false, workspace: workspace,
                 threading: threading)
    }

    /// `gradInput += conv3x3(gradOutput, flipped Wᵀ)`: the same convolution, C and K exchanged
    /// (`gradInput =` without `accumulate`: the buffer is then never read).
    static func inputGradient(_ algorithm: Algorithm, _ g: Conv2D.Geometry, weight w: UnsafePointer<Float>,
                              gradOutput dy: UnsafePointer<Float>, gradInput dx: UnsafeMutablePointer<Float>, accumulate: Bool = true,
                              workspace: Conv2D.Workspace, threading: Threading) {
        convolve(algorithm, batch: g.batch, input: dy, channels: g.outChannels, height: g.height, width: g.width, weight: w,
                 flipped: true, outChannels: g.inChannels, bias: nil, output: dx, accumulate: accumulate, workspace: workspace,
                 threading: threading)
    }

    /// `gradWeight += ∂L/∂W` for `g`.
    static func weightGradient(_ algorithm: Algorithm, _ g: Conv2D.Geometry, input x: UnsafePointer<Float>,
                               gradOutput dy: UnsafePointer<Float>, gradWeight dw: UnsafeMutablePointer<Float>,
                               workspace: Conv2D.Workspace, threading: Threading) {
        if imagesInParallel(batch: g.batch, workspace: workspace, threading: threading) {
            weightGradientByImages(algorithm, g, input: x, gradOutput: dy, gradWeight: dw, workspace: workspace, threading: threading)
            return
        }
        switch algorithm {
        case .f2x2:
            weightGradient(batch: g.batch, input: x, channels: g.inChannels, height: g.height, width: g.width,
                           gradOutput: dy, outChannels: g.outChannels, gradWeight: dw, workspace: workspace, threading: threading)
        case .f4x4:
            Winograd4x4.weightGradient(batch: g.batch, input: x, channels: g.inChannels, height: g.height, width: g.width,
                                       gradOutput: dy, outChannels: g.outChannels, gradWeight: dw, workspace: workspace, threading: threading)
        }
    }

    /// Transforms `weight` (K×C×3×3; with `flipped`, the C×K×3×3 kernel whose flipped transpose
    /// this convolution applies: the input gradient's) into the workspace and convolves with it.
    static func convolve(
        _ algorithm: Algorithm, batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        weight: UnsafePointer<Float>, flipped: Bool = false, outChannels k: Int, bias: UnsafePointer<Float>?, rectify: Bool = false,
        output y: UnsafeMutablePointer<Float>, accumulate: Bool, workspace: Conv2D.Workspace, threading: Threading
    ) {
        let u = transformedWeights(algorithm, weight: weight, flipped: flipped, outChannels: k, inChannels: c,
                                   workspace: workspace, threading: threading)
        if imagesInParallel(batch: batch, workspace: workspace, threading: threading) {
            convolveByImages(algorithm, batch: batch, input: x, channels: c, height: h, width: w, transformedWeights: u,
                             outChannels: k, bias: bias, rectify: rectify, output: y, accumulate: accumulate, workspace: workspace,
                             threading: threading)
        } else {
            convolve(algorithm, batch: batch, input: x, channels: c, height: h, width: w, transformedWeights: u, outChannels: k,
                     bias: bias, rectify: rectify, output: y, accumulate: accumulate, workspace: workspace, threading: threading)
        }
    }

    /// `output (+)= conv3x3(input, weights whose transform is u) + bias` by `algorithm`, rectified
    /// (`max(·, 0)`) in the output transform with `rectify` (never with `accumulate`).
    static func convolve(
        _ algorithm: Algorithm, batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        transformedWeights u: UnsafePointer<Float>, outChannels k: Int, bias: UnsafePointer<Float>?, rectify: Bool = false,
        output y: UnsafeMutablePointer<Float>, accumulate: Bool, workspace: Conv2D.Workspace, threading: Threading
    ) {
        precondition(!(rectify && accumulate), "Winograd.convolve rectifies only an output it overwrites")
        switch algorithm {
        case .f2x2:
            convolve(batch: batch, input: x, channels: c, height: h, width: w, transformedWeights: u, outChannels: k,
                     bias: bias, rectify: rectify, output: y, accumulate: accumulate, workspace: workspace, threading: threading)
        case .f4x4:
            Winograd4x4.convolve(batch: batch, input: x, channels: c, height: h, width: w, transformedWeights: u, outChannels: k,
                                 bias: bias, rectify: rectify, output: y, accumulate: accumulate, workspace: workspace,
                                 threading: threading)
        }
    }

    /// U of `weight` (K×C×3×3; with `flipped`, the C×K×3×3 kernel whose flipped transpose the
    /// convolution applies) for `algorithm`: from the workspace's cache when it keeps transformed
    /// weights, else transformed into its slot 1.
    static func transformedWeights(
        _ algorithm: Algorithm, weight: UnsafePointer<Float>, flipped: Bool, outChannels k: Int, inChannels c: Int,
        workspace: Conv2D.Workspace, threading: Threading
    ) -> UnsafePointer<Float> {
        let count = algorithm.positions * planeStride(k * c)
        func transform(into u: UnsafeMutablePointer<Float>) {
            switch algorithm {
            case .f2x2:
                var source = weight
                if flipped {
                    let transposed = workspace.buffer(9 * k * c, slot: 2)
                    flipTranspose(weight, outChannels: c, inChannels: k, into: transposed)
                    source = UnsafePointer(transposed)
                }
                transformWeights(source, outChannels: k, inChannels: c, into: u, threading: threading)
            case .f4x4:
                Winograd4x4.transformWeights(weight, outChannels: k, inChannels: c, flipped: flipped, into: u, threading: threading)
            }
        }
        let u: UnsafePointer<Float>
        if workspace.keepsTransformedWeights {
            u = workspace.transformedWeights.transformed(algorithm, weight: weight, flipped: flipped, outChannels: k, inChannels: c,
                                                         transformedCount: count, transform: transform(into:))
        } else {
            let buffer = workspace.buffer(count, slot: 1)
            transform(into: buffer)
            u = UnsafePointer(buffer)
        }
        return u
    }

    /// Whether `g` can run here.
    static func applies(to g: Conv2D.Geometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
            && g.padHeight == 1 && g.padWidth == 1 && g.dilationHeight == 1 && g.dilationWidth == 1
    }

    /// Floats from one transformed plane (U, V, M or dU at one position ξ) to the next: `floats`
    /// rounded up to whole 64-byte lines, an odd number of them, so that the 16 or 36 planes a
    /// transform reads or writes side by side fall into different L1 and L2 cache sets. Unpadded,
    /// a K·C or K·N plane is often a multiple of 2 KiB (1 MiB at 512×512): all 36 planes then
    /// shared one or two of L1's 64 sets (12 ways) and every load or store of a transform missed.
    static func planeStride(_ floats: Int) -> Int {
        ((floats + 15) / 16 | 1) * 16
    }

    /// U: 16 planes (`planeStride(K·C)` apart) of K×C transformed weights of `weight` (K×C×3×3).
    static func transformWeights(_ weight: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int,
                                 into u: UnsafeMutablePointer<Float>, threading: Threading) {
        let stride = planeStride(k * c)
        threading.forEachChunk(k * c, minimumPerChunk: 4096) { pairs in
            for kc in pairs {
                let g = weight + kc * 9
                // t = G g (4×3, row by row), then each row (a, b, c) of t → (a, ½(a+b+c), ½(a−b+c), c).
                func row(_ i: Int, _ a: Float, _ b: Float, _ c: Float) {
                    u[(i * 4 + 0) * stride + kc] = a
                    u[(i * 4 + 1) * stride + kc] = 0.5 * (a + b + c)
                    u[(i * 4 + 2) * stride + kc] = 0.5 * (a - b + c)
                    u[(i * 4 + 3) * stride + kc] = c
                }
                row(0, g[0], g[1], g[2])
                row(1, 0.5 * (g[0] + g[3] + g[6]), 0.5 * (g[1] + g[4] + g[7]), 0.5 * (g[2] + g[5] + g[8]))
                row(2, 0.5 * (g[0] - g[3] + g[6]), 0.5 * (g[1] - g[4] + g[7]), 0.5 * (g[2] - g[5] + g[8]))
                row(3, g[6], g[7], g[8])
            }
        }
    }

    /// The flipped, transposed kernel of `weight` (K×C×3×3 → C×K×3×3, each 3×3 rotated by
    /// 180°): convolving the output gradient with it gives the input gradient.
    static func flipTranspose(_ weight: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int,
                              into w: UnsafeMutablePointer<Float>) {
        for ko in 0..<k {
            for ci in 0..<c {
                let src = weight + (ko * c + ci) * 9, dst = w + (ci * k + ko) * 9
                for i in 0..<9 { dst[i] = src[8 - i] }
            }
        }
    }

    /// `output (+)= conv3x3(input, weights whose transform is u) + bias` for `batch` images, C → K
    /// channels on an H×W map; the tiles of all images share the GEMMs (small maps still make
    /// wide ones). `accumulate` adds to `output` instead of overwriting it; `rectify` writes
    /// `max(b + y, 0)` (`ReLU.rectified`) instead of `b + y`.
    static func convolve(
        batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        transformedWeights u: UnsafePointer<Float>, outChannels k: Int,
        bias: UnsafePointer<Float>?, rectify: Bool = false, output y: UnsafeMutablePointer<Float>, accumulate: Bool,
        workspace: Conv2D.Workspace, threading: Threading
    ) {
        let tilesY = (h + 1) / 2, tilesX = (w + 1) / 2, perImage = tilesY * tilesX, tiles = batch * perImage
        let (chunk, v, vStride, m, mStride) = chunkBuffers(tiles: tiles, channels: c, outChannels: k, workspace: workspace)
        let uStride = planeStride(k * c)
        var t0 = 0
        while t0 < tiles {
            let n = min(chunk, tiles - t0)
            transformInput(batch: batch, x, channels: c, height: h, width: w, firstTile: t0, tiles: n, into: v, planeStride: vStride,
                           threading: threading)
            // M[ξ] = U[ξ] · V[ξ].
            threading.forEachJob(16) { xi, _ in
                Gemm.sgemm(m: k, n: n, k: c, a: u + xi * uStride, lda: c, b: v + xi * vStride, ldb: n, beta: 0, c: m + xi * mStride, ldc: n)
            }
            // y = Aᵀ M A per tile, cut at the map's edge.
            threading.forEachChunk(k, minimumPerChunk: 8) { outs in
                for ko in outs {
                    let b = bias?[ko] ?? 0
                    var t = 0
                    while t < n {
                        let image = (t0 + t) / perImage, tile = (t0 + t) % perImage
                        let plane = y + (image * k + ko) * h * w
                        let tx = tile % tilesX, oy = (tile / tilesX) * 2, ox = tx * 2
                        let at0 = ko * n + t, step = mStride
                        // Eight tiles of one row inside the map at once (they write columns ox … ox + 15).
                        if t + 8 <= n && tx + 8 <= tilesX && oy + 1 < h && ox + 15 < w {
                            inverseTransformEightTiles(m + at0, planeStride: step, into: plane + oy * w + ox, rowStride: w,
                                                       bias: b, accumulate: accumulate, rectify: rectify)
                            t += 8
                            continue
                        }
                        let s0 = m[at0], s1 = m[at0 + step], s2 = m[at0 + 2 * step], s3 = m[at0 + 3 * step]
                        let s4 = m[at0 + 4 * step], s5 = m[at0 + 5 * step], s6 = m[at0 + 6 * step], s7 = m[at0 + 7 * step]
                        let s8 = m[at0 + 8 * step], s9 = m[at0 + 9 * step], s10 = m[at0 + 10 * step], s11 = m[at0 + 11 * step]
                        let s12 = m[at0 + 12 * step], s13 = m[at0 + 13 * step], s14 = m[at0 + 14 * step], s15 = m[at0 + 15 * step]
                        // Columns: q = Aᵀ s (2×4); then q A (2×2).
                        let q00 = s0 + s4 + s8, q01 = s1 + s5 + s9, q02 = s2 + s6 + s10, q03 = s3 + s7 + s11
                        let q10 = s4 - s8 - s12, q11 = s5 - s9 - s13, q12 = s6 - s10 - s14, q13 = s7 - s11 - s15
                        let y00 = q00 + q01 + q02, y01 = q01 - q02 - q03, y10 = q10 + q11 + q12, y11 = q11 - q12 - q13
                        let row0 = plane + oy * w + ox
                        if accumulate {
                            row0[0] += b + y00
                            if ox + 1 < w { row0[1] += b + y01 }
                            if oy + 1 < h { row0[w] += b + y10; if ox + 1 < w { row0[w + 1] += b + y11 } }
                        } else if rectify {
                            row0[0] = max(b + y00, 0)
                            if ox + 1 < w { row0[1] = max(b + y01, 0) }
                            if oy + 1 < h { row0[w] = max(b + y10, 0); if ox + 1 < w { row0[w + 1] = max(b + y11, 0) } }
                        } else {
                            row0[0] = b + y00
                            if ox + 1 < w { row0[1] = b + y01 }
                            if oy + 1 < h { row0[w] = b + y10; if ox + 1 < w { row0[w + 1] = b + y11 } }
                        }
                        t += 1
                    }
                }
            }
            t0 += n
        }
    }

    /// `gradWeight += ∂L/∂W` of a 3×3 stride-1 pad-1 convolution, from its input and output
    /// gradient: dU[ξ] (K×C) = Σₜ (A dYₜ Aᵀ)[ξ] · Vₜ[ξ]ᵀ (16 GEMMs over the tiles), then
    /// dW = Gᵀ dU G per (k, c) — the adjoints of the forward's transforms.
    static func weightGradient(
        batch: Int, input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
        gradOutput dy: UnsafePointer<Float>, outChannels k: Int, gradWeight dw: UnsafeMutablePointer<Float>,
        workspace: Conv2D.Workspace, threading: Threading
    ) {
        let tilesX = (w + 1) / 2, perImage = ((h + 1) / 2) * tilesX, tiles = batch * perImage
        let (chunk, v, vStride, dm, mStride) = chunkBuffers(tiles: tiles, channels: c, outChannels: k, workspace: workspace)
        let plane = k * c, duStride = planeStride(plane)
        let du = workspace.buffer(16 * duStride, slot: 1)
        du.update(repeating: 0, count: 16 * duStride)
        var t0 = 0
        while t0 < tiles {
            let n = min(chunk, tiles - t0)
            transformInput(batch: batch, x, channels: c, height: h, width: w, firstTile: t0, tiles: n, into: v, planeStride: vStride,
                           threading: threading)
            // dM[ξ][k][t] = A dY Aᵀ of each 2×2 output-gradient tile (zero beyond the map).
            threading.forEachChunk(k, minimumPerChunk: 8) { outs in
                for ko in outs {
                    var t = 0
                    while t < n {
                        let image = (t0 + t) / perImage, tile = (t0 + t) % perImage
                        let plane = dy + (image * k + ko) * h * w
                        let tx = tile % tilesX, oy = (tile / tilesX) * 2, ox = tx * 2
                        // Eight tiles of one row inside the map at once (they read columns ox … ox + 15).
                        if t + 8 <= n && tx + 8 <= tilesX && oy + 1 < h && ox + 15 < w {
                            gradientTransformEightTiles(plane + oy * w + ox, rowStride: w, into: dm + ko * n + t, planeStride: mStride)
                            t += 8
                            continue
                        }
                        let right = ox + 1 < w, below = oy + 1 < h
                        let a = plane[oy * w + ox], b = right ? plane[oy * w + ox + 1] : 0
                        let cc = below ? plane[(oy + 1) * w + ox] : 0, d = right && below ? plane[(oy + 1) * w + ox + 1] : 0
                        // A dY has rows [a, b], [a+c, b+d], [a−c, b−d], [−c, −d]; a row [p, q] times Aᵀ is [p, p+q, p−q, −q].
                        let at = ko * n + t, step = mStride
                        func put(_ i: Int, _ p: Float, _ q: Float) {
                            dm[(i * 4) * step + at] = p
                            dm[(i * 4 + 1) * step + at] = p + q
                            dm[(i * 4 + 2) * step + at] = p - q
                            dm[(i * 4 + 3) * step + at] = -q
                        }
                        put(0, a, b); put(1, a + cc, b + d); put(2, a - cc, b - d); put(3, -cc, -d)
                        t += 1
                    }
                }
            }
            threading.forEachJob(16) { xi, _ in
                Gemm.sgemm(transB: true, m: k, n: c, k: n, a: dm + xi * mStride, lda: n, b: v + xi * vStride, ldb: n, beta: 1,
                           c: du + xi * duStride, ldc: c)
            }
            t0 += n
        }
        // dW += Gᵀ dU G: rows of X (4×4) → Gᵀ X (3×4), then each row [x0, x1, x2, x3] → [x0 + ½(x1+x2), ½(x1−x2), ½(x1+x2) + x3].
        threading.forEachChunk(plane, minimumPerChunk: 256) { pairs in
            for kc in pairs {
                func x(_ i: Int, _ j: Int) -> Float { du[(i * 4 + j) * duStride + kc] }
                func add(_ i: Int, _ x0: Float, _ x1: Float, _ x2: Float, _ x3: Float) {
                    let g = dw + kc * 9 + i * 3
                    g[0] += x0 + 0.5 * (x1 + x2); g[1] += 0.5 * (x1 - x2); g[2] += 0.5 * (x1 + x2) + x3
                }
                func row(_ j: Int) -> (Float, Float, Float) {
                    (x(0, j) + 0.5 * (x(1, j) + x(2, j)), 0.5 * (x(1, j) - x(2, j)), 0.5 * (x(1, j) + x(2, j)) + x(3, j))
                }
                let c0 = row(0), c1 = row(1), c2 = row(2), c3 = row(3)
                add(0, c0.0, c1.0, c2.0, c3.0)
                add(1, c0.1, c1.1, c2.1, c3.1)
                add(2, c0.2, c1.2, c2.2, c3.2)
            }
        }
    }

    /// Tiles per chunk (so that V and M stay around `workspace.winogradChunkFloats` floats each,
    /// 16 MB by default) and the workspace's room for one chunk's V (`positions` C × chunk planes,
    /// `vStride` apart) and M (`positions` K × chunk planes, `mStride` apart).
    static func chunkBuffers(tiles: Int, positions: Int = 16, channels c: Int, outChannels k: Int, workspace: Conv2D.Workspace)
        -> (chunk: Int, v: UnsafeMutablePointer<Float>, vStride: Int, m: UnsafeMutablePointer<Float>, mStride: Int) {
        let chunk = max(1, min(tiles, workspace.winogradChunkFloats / (positions * max(c, k))))
        let vStride = planeStride(c * chunk), mStride = planeStride(k * chunk)
        let buffer = workspace.buffer(positions * (vStride + mStride))
        return (chunk, buffer, vStride, buffer + positions * vStride, mStride)
    }

    /// V[ξ][c][t] (16 planes of C × `tiles`, `planeStride` apart): Bᵀ d B of the 4×4 input patch of
    /// each tile `firstTile` … `firstTile + tiles − 1` (tiles of all images in order; zero outside the map).
    static func transformInput(batch: Int, _ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                               firstTile t0: Int, tiles n: Int, into v: UnsafeMutablePointer<Float>, planeStride stride: Int,
                               threading: Threading) {
        let tilesX = (w + 1) / 2, perImage = ((h + 1) / 2) * tilesX
        threading.forEachChunk(c, minimumPerChunk: 8) { channels in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 32) { scratch in
                let d = scratch.baseAddress!, r = d + 16
                for ci in channels {
                    var t = 0
                    while t < n {
                        let image = (t0 + t) / perImage, tile = (t0 + t) % perImage
                        let plane = x + (image * c + ci) * h * w
                        let tx = tile % tilesX, oy = (tile / tilesX) * 2 - 1, ox = tx * 2 - 1
                        let base = ci * n + t
                        // Eight tiles of one row inside the map at once (they read columns ox … ox + 17).
                        if t + 8 <= n && tx + 8 <= tilesX && oy >= 0 && oy + 3 < h && ox >= 0 && ox + 17 < w {
                            transformEightInputTiles(plane + oy * w + ox, rowStride: w, into: v + base, planeStride: stride)
                            t += 8
                            continue
                        }
                        if oy >= 0 && oy + 3 < h && ox >= 0 && ox + 3 < w {
                            for i in 0..<4 { for j in 0..<4 { d[i * 4 + j] = plane[(oy + i) * w + ox + j] } }
                        } else {
                            for i in 0..<4 {
                                let yy = oy + i
                                for j in 0..<4 {
                                    let xx = ox + j
                                    d[i * 4 + j] = yy >= 0 && yy < h && xx >= 0 && xx < w ? plane[yy * w + xx] : 0
                                }
                            }
                        }
                        // Rows: r = Bᵀ d; then columns: r B.
                        for j in 0..<4 {
                            let d0 = d[j], d1 = d[4 + j], d2 = d[8 + j], d3 = d[12 + j]
                            r[j] = d0 - d2; r[4 + j] = d1 + d2; r[8 + j] = d2 - d1; r[12 + j] = d1 - d3
                        }
                        for i in 0..<4 {
                            let r0 = r[i * 4], r1 = r[i * 4 + 1], r2 = r[i * 4 + 2], r3 = r[i * 4 + 3]
                            v[(i * 4 + 0) * stride + base] = r0 - r2
                            v[(i * 4 + 1) * stride + base] = r1 + r2
                            v[(i * 4 + 2) * stride + base] = r2 - r1
                            v[(i * 4 + 3) * stride + base] = r1 - r3
                        }
                        t += 1
                    }
                }
            }
        }
    }

    /// Bᵀ d B of eight horizontally adjacent 4×4 patches (`patch` is the first one's top-left;
    /// patch q starts 2q columns later), written to the 16 planes of V at `v`, `v + planeStride`, …
    @inline(__always)
    static func transformEightInputTiles(_ patch: UnsafePointer<Float>, rowStride: Int,
                                         into v: UnsafeMutablePointer<Float>, planeStride: Int) {
        typealias V8 = SIMD8<Float>
        // Column j of patch q is row[2q + j]: the even and odd halves of two 16-wide loads.
        func row(_ i: Int) -> (V8, V8, V8, V8) {
            let p = UnsafeRawPointer(patch + i * rowStride)
            let a = p.loadUnaligned(as: SIMD16<Float>.self), b = p.loadUnaligned(fromByteOffset: 8, as: SIMD16<Float>.self)
            return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
        }
        let d0 = row(0), d1 = row(1), d2 = row(2), d3 = row(3)
        func store(_ i: Int, _ r: (V8, V8, V8, V8)) {
            func put(_ j: Int, _ value: V8) { UnsafeMutableRawPointer(v + (i * 4 + j) * planeStride).storeBytes(of: value, as: V8.self) }
            put(0, r.0 - r.2); put(1, r.1 + r.2); put(2, r.2 - r.1); put(3, r.1 - r.3)
        }
        store(0, (d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3))
        store(1, (d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3))
        store(2, (d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3))
        store(3, (d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3))
    }

    /// A dY Aᵀ of eight horizontally adjacent 2×2 output-gradient tiles (`dy` is the first one's
    /// top-left; tile q starts 2q columns later), written to the 16 planes of dM at `dm`,
    /// `dm + planeStride`, … — the scalar loop of `weightGradient`, eight lanes wide.
    @inline(__always)
    static func gradientTransformEightTiles(_ dy: UnsafePointer<Float>, rowStride: Int,
                                            into dm: UnsafeMutablePointer<Float>, planeStride: Int) {
        typealias V8 = SIMD8<Float>
        let top = UnsafeRawPointer(dy).loadUnaligned(as: SIMD16<Float>.self)
        let bottom = UnsafeRawPointer(dy + rowStride).loadUnaligned(as: SIMD16<Float>.self)
        let a = top.evenHalf, b = top.oddHalf, c = bottom.evenHalf, d = bottom.oddHalf
        func put(_ i: Int, _ p: V8, _ q: V8) {
            func store(_ j: Int, _ value: V8) { UnsafeMutableRawPointer(dm + (i * 4 + j) * planeStride).storeBytes(of: value, as: V8.self) }
            store(0, p); store(1, p + q); store(2, p - q); store(3, -q)
        }
        put(0, a, b); put(1, a + c, b + d); put(2, a - c, b - d); put(3, -c, -d)
    }

    /// Aᵀ M A of eight horizontally adjacent tiles (M's 16 planes at `m`, `m + planeStride`, …),
    /// written (or added) as two rows of 16 outputs at `out`, `ReLU.rectified` with `rectify`.
    @inline(__always)
    static func inverseTransformEightTiles(_ m: UnsafePointer<Float>, planeStride: Int, into out: UnsafeMutablePointer<Float>,
                                           rowStride: Int, bias: Float, accumulate: Bool, rectify: Bool = false) {
        typealias V8 = SIMD8<Float>
        func s(_ xi: Int) -> V8 { UnsafeRawPointer(m + xi * planeStride).loadUnaligned(as: V8.self) }
        let q00 = s(0) + s(4) + s(8), q01 = s(1) + s(5) + s(9), q02 = s(2) + s(6) + s(10), q03 = s(3) + s(7) + s(11)
        let q10 = s(4) - s(8) - s(12), q11 = s(5) - s(9) - s(13), q12 = s(6) - s(10) - s(14), q13 = s(7) - s(11) - s(15)
        // Two tiles' outputs per SIMD4 (SIMD16's `evenHalf`/`oddHalf` setters copy the vector once per element).
        func write(_ i: Int, _ even: V8, _ odd: V8) {
            let bias4 = SIMD4<Float>(repeating: bias)
            for q in stride(from: 0, to: 8, by: 2) {
                var pair = SIMD4<Float>(even[q], odd[q], even[q + 1], odd[q + 1]) + bias4
                let p = UnsafeMutableRawPointer(out + i * rowStride + 2 * q)
                if accumulate { pair += p.loadUnaligned(as: SIMD4<Float>.self) }
                if rectify { pair = ReLU.rectified(pair) }
                p.storeBytes(of: pair, as: SIMD4<Float>.self)
            }
        }
        write(0, q00 + q01 + q02, q01 - q02 - q03)
        write(1, q10 + q11 + q12, q11 - q12 - q13)
    }
}
