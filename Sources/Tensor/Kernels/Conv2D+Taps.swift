// 2-D convolution as one GEMM per kernel tap over the output rectangle where that tap reads the
// image, not its zero padding: forward, input gradient and weight gradient. For SSD300's fc6
// (3×3, dilation 6, pad 6 on 19×19) 38 % of im2col's multiply-adds are on padding; here none are.
// Legend: N batch, C input channels, H×W input, K output channels, R×S kernel, OH×OW output,
// P = OH·OW, t one tap (r, s) of the kernel, nt the output pixels of its rectangle (nh × nw).
//
// Tap t contributes W_t · X_t to the outputs of its rectangle, W_t the K×C slice of the weights at
// (r, s) and X_t the C×nt input pixels it reads there. The weights are first repacked tap by tap
// (T × K × C, T the taps with a rectangle) so that W_t is a plain matrix. X_t is read in place when
// the rectangle's input pixels are one contiguous run per channel (stride 1, whole rows: the
// middle column of taps when W = OW), else gathered; a tap's product goes straight into the
// output when its rectangle is whole output rows, else through a scratch matrix added onto the
// rectangle. The sums run in another order than im2col's one GEMM over C·R·S: equal to rounding.

extension Conv2D {
    /// The taps of a geometry with the output rectangles they read the image on.
    struct TapPlan {
        /// One kernel tap and the outputs [oh0, oh0 + nh) × [ow0, ow0 + nw) whose input pixel
        /// (ih0 + i·strideH, iw0 + j·strideW) is inside the image.
        struct Tap {
            var index: Int          // r·S + s
            var oh0, nh, ow0, nw: Int
            var ih0, iw0: Int
            var count: Int { nh * nw }
            /// Offset of output (oh0, ow0) in an OH×OW plane.
            var outputOffset: Int
            /// Offset of input (ih0, iw0) in an H×W plane.
            var inputOffset: Int
            /// The rectangle is whole output rows (or one row): its outputs are one contiguous run.
            var outputInPlace: Bool
            /// Its input pixels are one contiguous run per channel, in output order.
            var inputInPlace: Bool
        }

        /// The taps with a non-empty rectangle; one covering the whole output first, when there is one.
        var taps: [Tap]
        /// Whether `taps[0]` covers the whole output (else the forward starts from zeros).
        var coversOutput: Bool
        /// The largest rectangle (output pixels).
        var largest: Int

        init(_ g: Geometry) {
            let (oh, ow) = (g.outHeight, g.outWidth)
            // Outputs o of one axis whose input o·stride − pad + k·dilation lies in 0 ..< size.
            func valid(_ k: Int, size: Int, outSize: Int, stride: Int, pad: Int, dilation: Int) -> (first: Int, count: Int) {
                let offset = k * dilation - pad
                let first = offset >= 0 ? 0 : (-offset + stride - 1) / stride
                let end = size - 1 - offset < 0 ? 0 : min(outSize, (size - 1 - offset) / stride + 1)
                return (first, max(0, end - first))
            }
            var taps: [Tap] = []
            for r in 0..<g.kernelHeight {
                let rows = valid(r, size: g.height, outSize: oh, stride: g.strideHeight, pad: g.padHeight, dilation: g.dilationHeight)
                for s in 0..<g.kernelWidth {
                    let columns = valid(s, size: g.width, outSize: ow, stride: g.strideWidth, pad: g.padWidth, dilation: g.dilationWidth)
                    guard rows.count > 0 && columns.count > 0 else { continue }
                    let ih0 = rows.first * g.strideHeight - g.padHeight + r * g.dilationHeight
                    let iw0 = columns.first * g.strideWidth - g.padWidth + s * g.dilationWidth
                    taps.append(Tap(
                        index: r * g.kernelWidth + s, oh0: rows.first, nh: rows.count, ow0: columns.first, nw: columns.count,
                        ih0: ih0, iw0: iw0, outputOffset: rows.first * ow + columns.first, inputOffset: ih0 * g.width + iw0,
                        outputInPlace: rows.count == 1 || columns.count == ow,
                        inputInPlace: g.strideWidth == 1 && (rows.count == 1 || g.strideHeight * g.width == columns.count)))
                }
            }
            if let full = taps.firstIndex(where: { $0.nh == oh && $0.nw == ow }) {
                taps.insert(taps.remove(at: full), at: 0)
                coversOutput = true
            } else {
                coversOutput = false
            }
            self.taps = taps
            largest = taps.map(\.count).max() ?? 0
        }

        /// Multiply-adds on the image over im2col's (which also multiplies the padding).
        static func validFraction(_ g: Geometry) -> Double {
            let plan = TapPlan(g)
            return Double(plan.taps.reduce(0) { $0 + $1.count }) / Double(g.kernelHeight * g.kernelWidth * g.outHeight * g.outWidth)
        }

        /// Floats of one thread's scratch: a gathered input (C × nt), a gathered output gradient
        /// (K × nt) and one tap's product (max(K, C) × nt).
        func scratchFloats(_ g: Geometry) -> Int {
            max(1, (g.inChannels + g.outChannels + max(g.inChannels, g.outChannels)) * largest)
        }
    }

    /// `forward` by taps (see the file header); the same threading as the im2col path: images on
    /// the threads when GEMMs run on the kernels' own threads, the images left over (fewer than
    /// threads) with their output channels in fixed shares, one per thread.
    static func forwardByTaps(
        _ g: Geometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        output y: UnsafeMutablePointer<Float>, activation: Activation, workspace: Workspace, threading: Threading
    ) {
        let plan = TapPlan(g)
        let imageIn = g.inChannels * g.height * g.width, imageOut = g.outChannels * g.outHeight * g.outWidth
        let wt = workspace.buffer(max(1, plan.taps.count * g.outChannels * g.inChannels), slot: Workspace.tapWeightsSlot)
        packTaps(g, plan, weight: w, into: wt, threading: threading)
        let threads = threading.gemmThreads
        let scratch = (0..<threads).map { workspace.buffer(plan.scratchFloats(g), slot: Workspace.threadSlot($0, 0)) }
        let channels = 0..<g.outChannels
        guard threads > 1 else {
            for n in 0..<g.batch {
                forwardImageByTaps(g, plan, x + n * imageIn, wt, bias, y + n * imageOut, channels, activation,
                                   scratch: scratch[0], threading: threading)
            }
            return
        }
        let rounds = g.batch / threads * threads
        threading.forEachJob(rounds) { n, thread in
            forwardImageByTaps(g, plan, x + n * imageIn, wt, bias, y + n * imageOut, channels, activation,
                               scratch: scratch[thread], threading: .serial)
        }
        for n in rounds..<g.batch {
            threading.forEachShare(g.outChannels) { share, thread in
                forwardImageByTaps(g, plan, x + n * imageIn, wt, bias, y + n * imageOut, share, activation,
                                   scratch: scratch[thread], threading: .serial)
            }
        }
    }

    /// Output channels `channels` of one image: `yn = activation(Σ_t W_t · X_t + bias)`.
    static func forwardImageByTaps(
        _ g: Geometry, _ plan: TapPlan, _ xn: UnsafePointer<Float>, _ wt: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
        _ yn: UnsafeMutablePointer<Float>, _ channels: Range<Int>, _ activation: Activation,
        scratch: UnsafeMutablePointer<Float>, threading: Threading
    ) {
        let (c, k, m) = (g.inChannels, g.outChannels, channels.count), pixels = g.outHeight * g.outWidth
        let y = yn + channels.lowerBound * pixels
        let gathered = scratch, product = scratch + (c + k) * plan.largest
        if !plan.coversOutput { y.update(repeating: 0, count: m * pixels) }
        for (position, tap) in plan.taps.enumerated() {
            let a = wt + (position * k + channels.lowerBound) * c
            let (b, ldb) = tapInput(g, tap, xn, gathered: gathered, threading: threading)
            if tap.outputInPlace {
                let beta: Float = position == 0 && plan.coversOutput ? 0 : 1
                Gemm.sgemm(m: m, n: tap.count, k: c, a: a, lda: c, b: b, ldb: ldb, beta: beta, c: y + tap.outputOffset, ldc: pixels)
            } else {
                Gemm.sgemm(m: m, n: tap.count, k: c, a: a, lda: c, b: b, ldb: ldb, beta: 0, c: product, ldc: tap.count)
                addRectangle(product, into: y, planes: m, plane: pixels, rowStride: g.outWidth, columnStride: 1,
                             offset: tap.outputOffset, rows: tap.nh, columns: tap.nw, threading: threading)
            }
        }
        let b = bias.map { $0 + channels.lowerBound }
        switch activation {
        case .relu:
            ReLU.addBiasAndRectify(y, rows: m, length: pixels, rowStride: pixels, bias: b, threading: threading)
        case .identity:
            if let b { addBias(y, rows: m, length: pixels, rowStride: pixels, bias: b, threading: threading) }
        }
    }

    /// The input gradient and weight gradient of `backward` by taps, ACCUMULATED into `gradInput`
    /// and `gradWeight` (either may be nil). Images on the threads in fixed shares when GEMMs run
    /// on the kernels' own threads; each thread sums its weight gradient tap by tap in its own
    /// partial, added into `gradWeight` in thread order, so the sum depends only on the thread count.
    static func backwardByTaps(
        _ g: Geometry, input x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
        gradInput dx: UnsafeMutablePointer<Float>?, gradWeight dw: UnsafeMutablePointer<Float>?,
        workspace: Workspace, threading: Threading
    ) {
        let plan = TapPlan(g)
        let imageIn = g.inChannels * g.height * g.width, imageOut = g.outChannels * g.outHeight * g.outWidth
        let tapWeights = max(1, plan.taps.count * g.outChannels * g.inChannels)
        var wt: UnsafeMutablePointer<Float>?
        if dx != nil {
            wt = workspace.buffer(tapWeights, slot: Workspace.tapWeightsSlot)
            packTaps(g, plan, weight: w, into: wt!, threading: threading)
        }
        let workers = imagesInParallel(g, threading) ? min(threading.gemmThreads, g.batch) : 1
        let scratch = (0..<workers).map { workspace.buffer(plan.scratchFloats(g), slot: Workspace.threadSlot($0, 0)) }
        let partials = (0..<workers).map { dw == nil ? nil : workspace.buffer(tapWeights, slot: Workspace.threadSlot($0, 1)) }
        let wtIn = wt.map { UnsafePointer($0) }
        if workers > 1 {
            threading.forEachShare(g.batch) { images, thread in
                for n in images {
                    backwardImageByTaps(g, plan, x + n * imageIn, wtIn, dy + n * imageOut, gradInput: dx.map { $0 + n * imageIn },
                                        gradWeight: partials[thread], firstImage: n == images.lowerBound,
                                        scratch: scratch[thread], threading: .serial)
                }
            }
        } else {
            for n in 0..<g.batch {
                backwardImageByTaps(g, plan, x + n * imageIn, wtIn, dy + n * imageOut, gradInput: dx.map { $0 + n * imageIn },
                                    gradWeight: partials[0], firstImage: n == 0, scratch: scratch[0], threading: threading)
            }
        }
        if let dw { unpackAddTaps(g, plan, partials: partials.map { UnsafePointer($0!) }, into: dw, threading: threading) }
    }

    /// One image of `backwardByTaps`: ACCUMULATES W_tᵀ · dY_t onto the input gradient of each tap's
    /// input pixels, and dY_t · X_tᵀ into the tap-major weight-gradient partial `dwt` (overwritten
    /// by `firstImage`).
    static func backwardImageByTaps(
        _ g: Geometry, _ plan: TapPlan, _ xn: UnsafePointer<Float>, _ wt: UnsafePointer<Float>?, _ dyn: UnsafePointer<Float>,
        gradInput dxn: UnsafeMutablePointer<Float>?, gradWeight dwt: UnsafeMutablePointer<Float>?, firstImage: Bool,
        scratch: UnsafeMutablePointer<Float>, threading: Threading
    ) {
        let (c, k) = (g.inChannels, g.outChannels), pixels = g.outHeight * g.outWidth, plane = g.height * g.width
        let gathered = scratch, gatheredGradient = scratch + c * plan.largest, product = scratch + (c + k) * plan.largest
        for (position, tap) in plan.taps.enumerated() {
            var (d, ldd) = (dyn + tap.outputOffset, pixels)
            if !tap.outputInPlace {
                gatherRectangle(dyn, into: gatheredGradient, planes: k, plane: pixels, rowStride: g.outWidth, columnStride: 1,
                                offset: tap.outputOffset, rows: tap.nh, columns: tap.nw, threading: threading)
                (d, ldd) = (UnsafePointer(gatheredGradient), tap.count)
            }
            if let dwt {
                let (b, ldb) = tapInput(g, tap, xn, gathered: gathered, threading: threading)
                Gemm.sgemm(transB: true, m: k, n: c, k: tap.count, a: d, lda: ldd, b: b, ldb: ldb, beta: firstImage ? 0 : 1,
                           c: dwt + position * k * c, ldc: c)
            }
            if let dxn, let wt {
                let a = wt + position * k * c
                if tap.inputInPlace {
                    Gemm.sgemm(transA: true, m: c, n: tap.count, k: k, a: a, lda: c, b: d, ldb: ldd, beta: 1,
                               c: dxn + tap.inputOffset, ldc: plane)
                } else {
                    Gemm.sgemm(transA: true, m: c, n: tap.count, k: k, a: a, lda: c, b: d, ldb: ldd, beta: 0, c: product, ldc: tap.count)
                    addRectangle(product, into: dxn, planes: c, plane: plane, rowStride: g.strideHeight * g.width,
                                 columnStride: g.strideWidth, offset: tap.inputOffset, rows: tap.nh, columns: tap.nw, threading: threading)
                }
            }
        }
    }

    /// X_t of one image as a matrix (C rows of nt, row stride returned): the image itself when the
    /// tap reads it in place, else gathered into `gathered`.
    @inline(__always)
    static func tapInput(
        _ g: Geometry, _ tap: TapPlan.Tap, _ xn: UnsafePointer<Float>, gathered: UnsafeMutablePointer<Float>, threading: Threading
    ) -> (UnsafePointer<Float>, Int) {
        let plane = g.height * g.width
        if tap.inputInPlace { return (xn + tap.inputOffset, plane) }
        gatherRectangle(xn, into: gathered, planes: g.inChannels, plane: plane, rowStride: g.strideHeight * g.width,
                        columnStride: g.strideWidth, offset: tap.inputOffset, rows: tap.nh, columns: tap.nw, threading: threading)
        return (UnsafePointer(gathered), tap.count)
    }

    /// `dense[p, i·columns + j] = source[p·plane + offset + i·rowStride + j·columnStride]` for `planes` planes.
    static func gatherRectangle(
        _ source: UnsafePointer<Float>, into dense: UnsafeMutablePointer<Float>, planes: Int, plane: Int, rowStride: Int,
        columnStride: Int, offset: Int, rows: Int, columns: Int, threading: Threading
    ) {
        let count = rows * columns
        threading.forEachChunk(planes, minimumPerChunk: max(1, 16384 / max(1, count))) { range in
            for p in range {
                for i in 0..<rows {
                    let from = source + p * plane + offset + i * rowStride, to = dense + p * count + i * columns
                    if columnStride == 1 {
                        to.update(from: from, count: columns)
                    } else {
                        for j in 0..<columns { to[j] = from[j * columnStride] }
                    }
                }
            }
        }
    }

    /// The adjoint of `gatherRectangle`: `target[p·plane + offset + i·rowStride + j·columnStride] += dense[p, i·columns + j]`.
    static func addRectangle(
        _ dense: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, planes: Int, plane: Int, rowStride: Int,
        columnStride: Int, offset: Int, rows: Int, columns: Int, threading: Threading
    ) {
        let count = rows * columns
        threading.forEachChunk(planes, minimumPerChunk: max(1, 16384 / max(1, count))) { range in
            for p in range {
                for i in 0..<rows {
                    let to = target + p * plane + offset + i * rowStride, from = dense + p * count + i * columns
                    for j in 0..<columns { to[j * columnStride] += from[j] }
                }
            }
        }
    }

    /// `wt[position, k, c] = weight[k, c, tap]` for the plan's taps in plan order.
    static func packTaps(_ g: Geometry, _ plan: TapPlan, weight: UnsafePointer<Float>, into wt: UnsafeMutablePointer<Float>,
                         threading: Threading) {
        let (c, k, taps) = (g.inChannels, g.outChannels, g.kernelHeight * g.kernelWidth)
        threading.forEachChunk(k, minimumPerChunk: max(1, 16384 / max(1, c * taps))) { range in
            for kk in range {
                let row = weight + kk * c * taps
                for (position, tap) in plan.taps.enumerated() {
                    let to = wt + (position * k + kk) * c
                    for cc in 0..<c { to[cc] = row[cc * taps + tap.index] }
                }
            }
        }
    }

    /// `gradWeight[k, c, tap] += partials[0][position, k, c] + partials[1][…] + …`, in that order.
    static func unpackAddTaps(_ g: Geometry, _ plan: TapPlan, partials: [UnsafePointer<Float>],
                              into gradWeight: UnsafeMutablePointer<Float>, threading: Threading) {
        let (c, k, taps) = (g.inChannels, g.outChannels, g.kernelHeight * g.kernelWidth)
        threading.forEachChunk(k, minimumPerChunk: max(1, 16384 / max(1, c * taps))) { range in
            for kk in range {
                let row = gradWeight + kk * c * taps
                for (position, tap) in plan.taps.enumerated() {
                    for partial in partials {
                        let from = partial + (position * k + kk) * c
                        for cc in 0..<c { row[cc * taps + tap.index] += from[cc] }
                    }
                }
            }
        }
    }
}
