// 2-D convolution (MXNet Convolution, no groups) via im2col + sgemm, forward and backward;
// 3×3 stride-1 layers as Winograd (Winograd*.swift), layers whose taps read mostly padding
// (fc6) one GEMM per tap (Conv2D+Taps.swift).
// Legend: N batch, C input channels, H×W input, K output channels, R×S kernel,
// OH×OW output, T tile of output pixels, CRS = C·R·S.

/// Convolution of NCHW input with K×C×R×S weights, stride, zero padding and dilation.
public enum Conv2D {
    /// Sizes of one convolution call.
    public struct Geometry: Equatable, Sendable, CustomStringConvertible {
        public var batch, inChannels, height, width, outChannels: Int
        public var kernelHeight, kernelWidth: Int
        public var strideHeight, strideWidth: Int
        public var padHeight, padWidth: Int
        public var dilationHeight, dilationWidth: Int

        /// A geometry; square kernel/stride/pad/dilation shorthands via the convenience init.
        public init(
            batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
            kernelHeight: Int, kernelWidth: Int, strideHeight: Int = 1, strideWidth: Int = 1,
            padHeight: Int = 0, padWidth: Int = 0, dilationHeight: Int = 1, dilationWidth: Int = 1
        ) {
            self.batch = batch; self.inChannels = inChannels; self.height = height; self.width = width
            self.outChannels = outChannels; self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
            self.strideHeight = strideHeight; self.strideWidth = strideWidth
            self.padHeight = padHeight; self.padWidth = padWidth
            self.dilationHeight = dilationHeight; self.dilationWidth = dilationWidth
        }

        /// Square kernel, stride, padding and dilation.
        public init(
            batch: Int, inChannels: Int, height: Int, width: Int, outChannels: Int,
            kernel: Int, stride: Int = 1, pad: Int = 0, dilation: Int = 1
        ) {
            self.init(
                batch: batch, inChannels: inChannels, height: height, width: width, outChannels: outChannels,
                kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride, strideWidth: stride,
                padHeight: pad, padWidth: pad, dilationHeight: dilation, dilationWidth: dilation)
        }

        /// Output height: ⌊(H + 2·pad − dilation·(R−1) − 1) / stride⌋ + 1.
        public var outHeight: Int { (height + 2 * padHeight - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1 }
        /// Output width.
        public var outWidth: Int { (width + 2 * padWidth - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1 }
        /// Input shape N×C×H×W.
        public var inputShape: [Int] { [batch, inChannels, height, width] }
        /// Weight shape K×C×R×S.
        public var weightShape: [Int] { [outChannels, inChannels, kernelHeight, kernelWidth] }
        /// Output shape N×K×OH×OW.
        public var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
        /// Multiply-adds of one forward pass.
        public var multiplyAdds: Int { batch * outChannels * outHeight * outWidth * inChannels * kernelHeight * kernelWidth }

        /// 1×1, stride 1, no padding: the input already is the column matrix.
        var isPointwise: Bool {
            kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1 && padHeight == 0 && padWidth == 0
        }

        public var description: String {
            "conv k\(kernelHeight)x\(kernelWidth) s\(strideHeight) p\(padHeight) d\(dilationHeight) "
                + "\(batch)x\(inChannels)x\(height)x\(width)->\(outChannels)"
        }

        func validate() throws(TensorError) {
            let positive = [batch, inChannels, height, width, outChannels, kernelHeight, kernelWidth,
                            strideHeight, strideWidth, dilationHeight, dilationWidth]
            if positive.contains(where: { $0 < 1 }) || padHeight < 0 || padWidth < 0 {
                throw .invalidGeometry(kernel: "Conv2D", reason: "sizes must be positive and padding non-negative in \(self)")
            }
            if outHeight < 1 || outWidth < 1 {
                throw .invalidGeometry(kernel: "Conv2D", reason: "kernel larger than padded input in \(self)")
            }
        }

        /// Output pixels per im2col tile: the column tile stays around 16 MB.
        var tileLength: Int {
            let pixels = outHeight * outWidth
            let crs = inChannels * kernelHeight * kernelWidth
            return max(1, min(pixels, (1 << 22) / max(1, crs)))
        }
    }

    /// Reusable scratch memory (the column matrix, Winograd's transformed tiles and weights),
    /// grown on demand, and the choice of algorithm.
    public final class Workspace {
        private var storage: [UnsafeMutablePointer<Float>]
        private var capacity: [Int]
        /// 3×3 stride-1 pad-1 layers with at least `winogradMinimumChannels` input and output
        /// channels run as Winograd F(2×2, 3×3) (forward and input gradient); nil: always im2col.
        public var winogradMinimumChannels: Int?
        /// The weight gradient of a Winograd layer runs as Winograd too from this many input and
        /// output channels (nil: always im2col). With the output-gradient transform eight tiles
        /// wide it pays from 64 channels (KernelBenchmarks, batch 8, backward against im2col, two
        /// paired runs: conv1_2 ×1.11/×1.99 vs ×0.98/×1.13 with im2col weight gradients, conv2_2
        /// ×1.56/×1.64 vs ×1.31/×1.09, conv4_1 ×1.36/×1.60 vs ×0.85/×0.97).
        public var winogradWeightGradientMinimumChannels: Int?
        /// Winograd layers with at least this many input and output channels run F(4×4, 3×3)
        /// instead of F(2×2, 3×3) (forward and input gradient) on maps it suits (at least 37
        /// wide, `Winograd4x4.suits`); nil: always F(2×2).
        public var winograd4x4MinimumChannels: Int?
        /// The same for the weight gradient of a layer whose weight gradient is Winograd, on every
        /// map where F(4×4) needs fewer multiplies (19×19 too).
        public var winograd4x4WeightGradientMinimumChannels: Int?
        /// With at least this many threads running GEMMs on their own (and one image per thread),
        /// Winograd layers give each thread a share of the images instead of splitting each chunk
        /// of tiles over the threads (`Winograd.imagesInParallel`, Winograd+Images.swift); nil: never.
        /// Off by default until measured on many cores (on 2 cores it is slower: SSD300 batch 8,
        /// 0.94/1.07 images/s against 1.06/1.28, and 115 MB more); `Benchmarks/manycore.sh`
        /// measures both (TrainingBenchmarks --winograd-images-threads).
        public var winogradImagesInParallelMinimumThreads: Int? = nil
        /// Layers that do not run as Winograd and whose kernel taps read the image (not its zero
        /// padding) on less than this fraction of their outputs run one GEMM per tap over the
        /// outputs it reads (`forwardByTaps`, Conv2D+Taps.swift); nil: always im2col.
        /// SSD300's fc6 (3×3, dilation 6, pad 6 on 19×19) reads the image on 0.62 of them and runs
        /// ×1.3–×1.6 faster so, forward, input and weight gradient alike (KernelBenchmarks, batch 8,
        /// 2-core Intel Xeon; Benchmarks/results/README.md, "fc6 by taps"); SSD300's stride-2 extra
        /// layers (0.87, 256 input channels: per-tap GEMMs of ≤ 100 columns) lose, ×0.53–×0.97.
        public var tapGEMMsBelowValidFraction: Double? = 0.8
        /// The per-thread workspaces of `Winograd.imagesInParallel` (made on first use).
        private var imageShares: [Workspace] = []
        /// Floats of each of Winograd's transformed-tile buffers (V and M) per chunk of tiles.
        public var winogradChunkFloats = 1 << 22
        /// Floats of each thread's own V and M where Winograd F(4×4) layers run by blocks of tiles,
        /// one block per thread at a time (`Winograd.blockTiles`, Winograd+Blocks.swift); nil: never.
        public var winogradBlockFloats: Int? = 1 << 19
        /// The most input and output channels of a Winograd layer that runs by blocks.
        public var winogradBlockMaximumChannels = 128
        /// Keep each Winograd layer's transformed weights between calls while its weights stay the
        /// same (checked bit for bit on every call; `Winograd.WeightCache`): for forward-only work
        /// with fixed weights (inference), at 1 + 4 times each F(4×4) layer's weights in memory.
        public var keepsTransformedWeights = false {
            didSet { if !keepsTransformedWeights { transformedWeights.removeAll() } }
        }
        let transformedWeights = Winograd.WeightCache()

        /// An empty workspace. The default cut-offs were measured by KernelBenchmarks, which times
        /// both paths per layer (Benchmarks/results/README.md, "Winograd weight gradient below 512
        /// channels" and "Earlier sessions"): on a 2-core Zen 5 Winograd beats im2col + OpenBLAS
        /// from 64 channels, while with 3 input channels (conv1_1) the transforms cost more than
        /// the multiplies they save. Another CPU may want others: the worker takes
        /// --winograd-channels and --winograd-weight-gradient-channels.
        /// F(4×4) (2-core Intel Xeon, Cooperlake kernels, batch 8, GEMMs on own threads, time of
        /// F(2×2) / time of F(4×4) in one run at load 15, Benchmarks/results/README.md, "F(4×4)
        /// forward and input gradient"): forward ×1.44–×1.78 and input gradient ×1.24–×1.82 on
        /// conv1_2, conv2_2, conv3_x, conv4_2 (conv2_1 ×0.72/×0.90 and conv4_1's input gradient
        /// ×0.87 in that run), weight gradients ×1.04–×1.42 on every layer incl. conv5_1 (19×19);
        /// again at load 1.9: forward ×1.09–×1.76 but conv2_1 ×0.91, input gradient ×1.01–×1.67 but
        /// conv1_2/conv4_2 ×0.92/×0.91, weight gradients ×1.03–×1.76. So all three take it from 64
        /// channels, forward and input gradient on maps at least 37 wide (conv5_x's 19×19 stay
        /// F(2×2): ×0.97, ×0.80).
        public init(winogradMinimumChannels: Int? = 64, winogradWeightGradientMinimumChannels: Int? = 64,
                    winograd4x4MinimumChannels: Int? = 64, winograd4x4WeightGradientMinimumChannels: Int? = 64) {
            self.winogradMinimumChannels = winogradMinimumChannels
            self.winogradWeightGradientMinimumChannels = winogradWeightGradientMinimumChannels
            self.winograd4x4MinimumChannels = winograd4x4MinimumChannels
            self.winograd4x4WeightGradientMinimumChannels = winograd4x4WeightGradientMinimumChannels
            capacity = []
            storage = []
        }

        deinit { storage.forEach { $0.deallocate() } }

        /// A buffer of at least `count` floats (contents undefined); each `slot` is an
        /// independent buffer: 0 the column tile, 1 and 2 Winograd's (1 also `tapWeightsSlot`), then `threadSlot`s.
        /// Not thread-safe: take every buffer before a parallel region.
        func buffer(_ count: Int, slot: Int = 0) -> UnsafeMutablePointer<Float> {
            while storage.count <= slot {
                storage.append(UnsafeMutablePointer<Float>.allocate(capacity: 1))
                capacity.append(0)
            }
            if count > capacity[slot] {
                storage[slot].deallocate()
                storage[slot] = UnsafeMutablePointer<Float>.allocate(capacity: count)
                capacity[slot] = count
            }
            return storage[slot]
        }

        /// `count` workspaces for threads that each run a share of the images single-threaded, with
        /// this one's cut-offs; each gets 1/`count` of the chunk floats (at least 2²⁰), so the
        /// chunks of all threads together stay near one chunk of the batch path.
        func imageWorkspaces(_ count: Int) -> [Workspace] {
            while imageShares.count < count { imageShares.append(Workspace()) }
            for share in imageShares.prefix(count) {
                share.winogradMinimumChannels = winogradMinimumChannels
                share.winogradWeightGradientMinimumChannels = winogradWeightGradientMinimumChannels
                share.winograd4x4MinimumChannels = winograd4x4MinimumChannels
                share.winograd4x4WeightGradientMinimumChannels = winograd4x4WeightGradientMinimumChannels
                share.winogradImagesInParallelMinimumThreads = nil
                share.tapGEMMsBelowValidFraction = tapGEMMsBelowValidFraction
                share.winogradChunkFloats = max(1 << 20, winogradChunkFloats / count)
            }
            return Array(imageShares.prefix(count))
        }

        /// How many per-thread workspaces `Winograd.imagesInParallel` has made so far (0 until a
        /// layer first ran that way).
        public var imageWorkspaceCount: Int { imageShares.count }

        /// Slot of an image workspace's weight-gradient partial (`Winograd.weightGradientByImages`).
        static let imagePartialSlot = 3

        /// Slot of thread `thread`'s own buffer `kind` (0: column tile, or a Winograd block's V and
        /// M; 1: weight-gradient partial). Thread 0's column tile is slot 0, the one-thread path's
        /// (Winograd's chunks also live there), so running the images on T threads adds T − 1 tiles, not T.
        static func threadSlot(_ thread: Int, _ kind: Int) -> Int { thread == 0 && kind == 0 ? 0 : 3 + 2 * thread + kind }

        /// Slot of the weights repacked tap by tap (`Conv2D.packTaps`): Winograd's slot 1, which a
        /// layer that runs by taps does not use.
        static let tapWeightsSlot = 1

        /// Whether `g` runs by taps (`Conv2D.forwardByTaps`): not Winograd, and its taps read the
        /// image on less than `tapGEMMsBelowValidFraction` of their outputs.
        func runsByTaps(_ g: Geometry) -> Bool {
            guard let limit = tapGEMMsBelowValidFraction, winogradAlgorithm(g) == nil else { return false }
            return TapPlan.validFraction(g) < limit
        }

        /// The Winograd algorithm `g` runs (forward and input gradient); nil: im2col.
        func winogradAlgorithm(_ g: Geometry) -> Winograd.Algorithm? {
            guard let minimum = winogradMinimumChannels, Winograd.applies(to: g),
                  g.inChannels >= minimum && g.outChannels >= minimum else { return nil }
            return Self.tile(g, minimumChannels: winograd4x4MinimumChannels, weightGradient: false)
        }

        /// The Winograd algorithm of `g`'s weight gradient; nil: im2col.
        func winogradWeightGradientAlgorithm(_ g: Geometry) -> Winograd.Algorithm? {
            guard let minimum = winogradWeightGradientMinimumChannels, winogradAlgorithm(g) != nil,
                  g.inChannels >= minimum && g.outChannels >= minimum else { return nil }
            return Self.tile(g, minimumChannels: winograd4x4WeightGradientMinimumChannels, weightGradient: true)
        }

        /// F(4×4) from `minimumChannels` input and output channels on maps it suits, else F(2×2).
        private static func tile(_ g: Geometry, minimumChannels: Int?, weightGradient: Bool) -> Winograd.Algorithm {
            guard let minimum = minimumChannels, g.inChannels >= minimum && g.outChannels >= minimum,
                  Winograd4x4.suits(height: g.height, width: g.width, weightGradient: weightGradient) else { return .f2x2 }
            return .f4x4
        }
    }

    /// What `forward` applies to `conv + bias` in its output pass.
    public enum Activation: Sendable {
        case identity
        /// `max(·, 0)`: a conv → ReLU pair in one pass over the output. Training may use it too:
        /// ReLU's backward needs only the rectified output (`ReLU.backwardInPlace`).
        case relu
    }

    /// `output = activation(conv(input, weight) + bias)`.
    /// - Parameters:
    ///   - input: N×C×H×W. weight: K×C×R×S. bias: K, or nil for none. output: N×K×OH×OW (overwritten).
    public static func forward(
        _ g: Geometry, input: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>,
        bias: UnsafeBufferPointer<Float>?, output: UnsafeMutableBufferPointer<Float>, activation: Activation = .identity,
        workspace: Workspace = Workspace(), threading: Threading = .serial
    ) throws(TensorError) {
        try g.validate()
        try TensorError.check("Conv2D", "input", count: input.count, expected: g.inputShape)
        try TensorError.check("Conv2D", "weight", count: weight.count, expected: g.weightShape)
        if let bias { try TensorError.check("Conv2D", "bias", count: bias.count, expected: [g.outChannels]) }
        try TensorError.check("Conv2D", "output", count: output.count, expected: g.outputShape)

        let (x, w, y) = (input.baseAddress!, weight.baseAddress!, output.baseAddress!)
        let pixels = g.outHeight * g.outWidth, crs = g.inChannels * g.kernelHeight * g.kernelWidth
        let imageIn = g.inChannels * g.height * g.width, imageOut = g.outChannels * pixels
        if let algorithm = workspace.winogradAlgorithm(g) {
            // Bias and ReLU in the output transform, as the im2col path's tile epilogue.
            Winograd.forward(algorithm, g, input: x, weight: w, bias: bias?.baseAddress, rectify: activation == .relu, output: y,
                             workspace: workspace, threading: threading)
            return
        }
        if workspace.runsByTaps(g) {
            forwardByTaps(g, input: x, weight: w, bias: bias?.baseAddress, output: y, activation: activation,
                          workspace: workspace, threading: threading)
            return
        }
        let (b, t) = (bias?.baseAddress, g.tileLength), threads = threading.gemmThreads
        guard threads > 1 else {
            // One image at a time, each GEMM threaded by OpenBLAS.
            let col = workspace.buffer(g.isPointwise ? 1 : crs * t)
            for n in 0..<g.batch {
                forwardPixels(g, x + n * imageIn, w, b, y + n * imageOut, 0..<pixels, activation, col: col, threading: threading)
            }
            return
        }
        // GEMMs on the kernels' own threads, each single-threaded with its own column tile: whole
        // rounds of images one per thread, then the images left over (all of them below `threads`
        // images, as batch-1 inference) with their output pixels in fixed contiguous shares, one
        // per thread. The split depends only on the thread count, so the results do too (a
        // narrower GEMM may round a pixel's sum differently in the last bit, never by scheduling).
        let rounds = g.batch / threads * threads
        let share = min(t, (pixels + threads - 1) / threads)
        let cols = (0..<threads).map {
            workspace.buffer(g.isPointwise ? 1 : crs * (rounds > 0 ? t : share), slot: Workspace.threadSlot($0, 0))
        }
        threading.forEachJob(rounds) { n, thread in
            forwardPixels(g, x + n * imageIn, w, b, y + n * imageOut, 0..<pixels, activation, col: cols[thread], threading: .serial)
        }
        for n in rounds..<g.batch {
            threading.forEachShare(pixels) { range, thread in
                forwardPixels(g, x + n * imageIn, w, b, y + n * imageOut, range, activation, col: cols[thread], threading: .serial)
            }
        }
    }

    /// Whether the images of a batch run on separate threads (else one at a time, each GEMM
    /// threaded by OpenBLAS): when GEMMs run on the kernels' own threads and there are at
    /// least as many images as threads.
    static func imagesInParallel(_ g: Geometry, _ threading: Threading) -> Bool {
        threading.gemmThreads > 1 && g.batch >= threading.gemmThreads
    }

    /// Output pixels `pixels` of one image of `forward`: `yn = activation(conv(xn, w) + bias)`,
    /// tile by tile through `col`; each tile's GEMM output gets bias and activation in one pass
    /// while it is still in cache.
    static func forwardPixels(
        _ g: Geometry, _ xn: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
        _ yn: UnsafeMutablePointer<Float>, _ pixels: Range<Int>, _ activation: Activation,
        col: UnsafeMutablePointer<Float>, threading: Threading
    ) {
        let all = g.outHeight * g.outWidth, crs = g.inChannels * g.kernelHeight * g.kernelWidth
        let t = g.tileLength
        var p0 = pixels.lowerBound
        while p0 < pixels.upperBound {
            let len = min(t, pixels.upperBound - p0)
            if g.isPointwise {
                Gemm.sgemm(m: g.outChannels, n: len, k: crs, a: w, lda: crs, b: xn + p0, ldb: all, beta: 0, c: yn + p0, ldc: all)
            } else {
                Im2Col.unfold(g, image: xn, firstPixel: p0, tile: len, col: col, threading: threading)
                Gemm.sgemm(m: g.outChannels, n: len, k: crs, a: w, lda: crs, b: col, ldb: len, beta: 0, c: yn + p0, ldc: all)
            }
            switch activation {
            case .relu:
                ReLU.addBiasAndRectify(yn + p0, rows: g.outChannels, length: len, rowStride: all, bias: bias, threading: threading)
            case .identity:
                if let bias { addBias(yn + p0, rows: g.outChannels, length: len, rowStride: all, bias: bias, threading: threading) }
            }
            p0 += len
        }
    }

    /// `row r += bias[r]` for `rows` rows of `length` values, `rowStride` apart.
    static func addBias(_ y: UnsafeMutablePointer<Float>, rows: Int, length: Int, rowStride: Int,
                        bias: UnsafePointer<Float>, threading: Threading) {
        threading.forEachChunk(rows, minimumPerChunk: max(1, 16384 / max(1, length))) { range in
            for r in range {
                let row = y + r * rowStride, b = bias[r]
                for i in 0..<length { row[i] += b }
            }
        }
    }

    /// Gradients of `forward`. Each non-nil gradient buffer is ACCUMULATED into (`+=`);
    /// zeroing is the caller's job — except with `overwritingGradInput`: then gradInput's
    /// contents are undefined on entry and it receives the gradient itself (a Winograd layer
    /// stores it without reading the buffer; the others zero it first). Pass nil for gradients
    /// that are not needed (a frozen layer needs no gradWeight/gradBias, the first layer no gradInput).
    public static func backward(
        _ g: Geometry, input: UnsafeBufferPointer<Float>, weight: UnsafeBufferPointer<Float>,
        gradOutput: UnsafeBufferPointer<Float>,
        gradInput: UnsafeMutableBufferPointer<Float>?, overwritingGradInput: Bool = false,
        gradWeight: UnsafeMutableBufferPointer<Float>?, gradBias: UnsafeMutableBufferPointer<Float>?,
        workspace: Workspace = Workspace(), threading: Threading = .serial
    ) throws(TensorError) {
        try g.validate()
        try TensorError.check("Conv2D.backward", "input", count: input.count, expected: g.inputShape)
        try TensorError.check("Conv2D.backward", "weight", count: weight.count, expected: g.weightShape)
        try TensorError.check("Conv2D.backward", "gradOutput", count: gradOutput.count, expected: g.outputShape)
        if let gradInput { try TensorError.check("Conv2D.backward", "gradInput", count: gradInput.count, expected: g.inputShape) }
        if let gradWeight { try TensorError.check("Conv2D.backward", "gradWeight", count: gradWeight.count, expected: g.weightShape) }
        if let gradBias { try TensorError.check("Conv2D.backward", "gradBias", count: gradBias.count, expected: [g.outChannels]) }

        let (x, w, dy) = (input.baseAddress!, weight.baseAddress!, gradOutput.baseAddress!)
        let pixels = g.outHeight * g.outWidth, crs = g.inChannels * g.kernelHeight * g.kernelWidth
        let imageIn = g.inChannels * g.height * g.width, imageOut = g.outChannels * pixels
        var gradInput = gradInput, gradWeight = gradWeight
        if let dx = gradInput?.baseAddress, let algorithm = workspace.winogradAlgorithm(g) {
            Winograd.inputGradient(algorithm, g, weight: w, gradOutput: dy, gradInput: dx, accumulate: !overwritingGradInput,
                                   workspace: workspace, threading: threading)
            gradInput = nil
        } else if overwritingGradInput, let dx = gradInput {
            threading.zero(dx)
        }
        if let dw = gradWeight?.baseAddress, let algorithm = workspace.winogradWeightGradientAlgorithm(g) {
            Winograd.weightGradient(algorithm, g, input: x, gradOutput: dy, gradWeight: dw, workspace: workspace, threading: threading)
            gradWeight = nil
        }
        if let db = gradBias?.baseAddress {
            RowSum.addBiasGradient(db, gradOutput: dy, batch: g.batch, channels: g.outChannels, pixels: pixels, threading: threading)
        }
        if gradInput == nil && gradWeight == nil { return }   // only the bias was asked for, or Winograd did the rest
        if workspace.runsByTaps(g) {
            backwardByTaps(g, input: x, weight: w, gradOutput: dy, gradInput: gradInput?.baseAddress,
                           gradWeight: gradWeight?.baseAddress, workspace: workspace, threading: threading)
            return
        }
        let t = g.tileLength
        if imagesInParallel(g, threading) {
            // Each thread a fixed share of the images with its own column tile, single-threaded
            // GEMMs and weight-gradient partial (thread 0 adds into gradWeight itself); the
            // partials are then added in thread order, so the sum depends only on the thread count.
            let workers = min(threading.gemmThreads, g.batch), weights = g.outChannels * crs
            let cols = (0..<workers).map { workspace.buffer(g.isPointwise ? 1 : crs * t, slot: Workspace.threadSlot($0, 0)) }
            let partials: [UnsafeMutablePointer<Float>?] = (0..<workers).map { thread in
                guard let dw = gradWeight?.baseAddress else { return nil }
                if thread == 0 { return dw }
                let partial = workspace.buffer(weights, slot: Workspace.threadSlot(thread, 1))
                partial.update(repeating: 0, count: weights)
                return partial
            }
            let dx = gradInput?.baseAddress
            threading.forEachShare(g.batch) { images, thread in
                for n in images {
                    backwardImage(g, x + n * imageIn, w, dy + n * imageOut, gradInput: dx.map { $0 + n * imageIn },
                                  gradWeight: partials[thread], col: cols[thread], threading: .serial)
                }
            }
            if let dw = gradWeight?.baseAddress {
                addPartials(partials.dropFirst().map { $0! }, into: dw, count: weights, threading: threading)
            }
            return
        }
        let col = workspace.buffer(g.isPointwise ? 1 : crs * t)
        for n in 0..<g.batch {
            backwardImage(g, x + n * imageIn, w, dy + n * imageOut, gradInput: gradInput.map { $0.baseAddress! + n * imageIn },
                          gradWeight: gradWeight?.baseAddress, col: col, threading: threading)
        }
    }

    /// `sum += partials[0] + partials[1] + …`, element by element in that order (so the result
    /// depends only on how many partials there are), split over the threads.
    static func addPartials(_ partials: [UnsafeMutablePointer<Float>], into sum: UnsafeMutablePointer<Float>, count: Int,
                            threading: Threading) {
        guard !partials.isEmpty else { return }
        threading.forEachChunk(count, minimumPerChunk: 1 << 14) { range in
            for partial in partials {
                for i in range { sum[i] += partial[i] }
            }
        }
    }

    /// One image of `backward` (without the bias): ACCUMULATES into `gradInput` (this image's)
    /// and `gradWeight`, tile by tile through `col`.
    static func backwardImage(
        _ g: Geometry, _ xn: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dyn: UnsafePointer<Float>,
        gradInput dxn: UnsafeMutablePointer<Float>?, gradWeight dw: UnsafeMutablePointer<Float>?,
        col: UnsafeMutablePointer<Float>, threading: Threading
    ) {
        let pixels = g.outHeight * g.outWidth, crs = g.inChannels * g.kernelHeight * g.kernelWidth
        if g.isPointwise {
            if let dw {
                Gemm.sgemm(transB: true, m: g.outChannels, n: crs, k: pixels, a: dyn, lda: pixels, b: xn, ldb: pixels, beta: 1, c: dw, ldc: crs)
            }
            if let dxn {
                Gemm.sgemm(transA: true, m: crs, n: pixels, k: g.outChannels, a: w, lda: crs, b: dyn, ldb: pixels, beta: 1, c: dxn, ldc: pixels)
            }
            return
        }
        let t = g.tileLength
        var p0 = 0
        while p0 < pixels {
            let len = min(t, pixels - p0)
            if let dw {
                Im2Col.unfold(g, image: xn, firstPixel: p0, tile: len, col: col, threading: threading)
                Gemm.sgemm(transB: true, m: g.outChannels, n: crs, k: len, a: dyn + p0, lda: pixels, b: col, ldb: len, beta: 1, c: dw, ldc: crs)
            }
            if let dxn {
                Gemm.sgemm(transA: true, m: crs, n: len, k: g.outChannels, a: w, lda: crs, b: dyn + p0, ldb: pixels, beta: 0, c: col, ldc: len)
                Im2Col.fold(g, col: col, firstPixel: p0, tile: len, gradImage: dxn, threading: threading)
            }
            p0 += len
        }
    }
}
