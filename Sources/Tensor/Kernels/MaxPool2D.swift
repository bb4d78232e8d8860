// Max pooling (MXNet Pooling, pool_type "max") with MXNet's pooling conventions.
// Legend: N batch, C channels, H×W input, R×S window, OH×OW output.

/// Max pooling over R×S windows with stride and padding; padding never wins the max.
public enum MaxPool2D {
    /// MXNet's `pooling_convention`.
    public enum Convention: String, Sendable {
        /// ⌊(H + 2p − R) / stride⌋ + 1 output rows.
        case valid
        /// ⌈(H + 2p − R) / stride⌉ + 1 output rows ("ceil mode"; SSD's pool3: 75 → 38).
        case full
    }

    /// Sizes of one pooling call.
    public struct Geometry: Equatable, Sendable, CustomStringConvertible {
        public var batch, channels, height, width: Int
        public var kernel, stride, pad: Int
        public var convention: Convention

        /// A square window geometry.
        public init(batch: Int, channels: Int, height: Int, width: Int, kernel: Int, stride: Int, pad: Int = 0,
                    convention: Convention = .valid) {
            self.batch = batch; self.channels = channels; self.height = height; self.width = width
            self.kernel = kernel; self.stride = stride; self.pad = pad; self.convention = convention
        }

        private func outSize(_ size: Int) -> Int {
            let span = size + 2 * pad - kernel
            switch convention {
            case .valid: return span / stride + 1
            case .full: return (span + stride - 1) / stride + 1
            }
        }

        /// Output height.
        public var outHeight: Int { outSize(height) }
        /// Output width.
        public var outWidth: Int { outSize(width) }
        /// N×C×H×W.
        public var inputShape: [Int] { [batch, channels, height, width] }
        /// N×C×OH×OW.
        public var outputShape: [Int] { [batch, channels, outHeight, outWidth] }

        public var description: String {
            "maxpool k\(kernel) s\(stride) p\(pad) \(convention.rawValue) \(batch)x\(channels)x\(height)x\(width)"
        }

        func validate() throws(TensorError) {
            if [batch, channels, height, width, kernel, stride].contains(where: { $0 < 1 }) || pad < 0 || pad >= kernel {
                throw .invalidGeometry(kernel: "MaxPool2D", reason: "sizes must be positive and 0 <= pad < kernel in \(self)")
            }
            if height + 2 * pad < kernel || width + 2 * pad < kernel {
                throw .invalidGeometry(kernel: "MaxPool2D", reason: "window larger than padded input in \(self)")
            }
            if kernel * kernel > Int(Saved.none) {
                throw .invalidGeometry(kernel: "MaxPool2D", reason: "windows up to 15×15 (a max's place in its window is kept in one byte) in \(self)")
            }
        }
    }

    /// What backward needs: where in its window each output's max is — one byte per output
    /// element (a quarter of a 32-bit input index: 44 MB less for SSD300's pool1 at batch 8).
    public struct Saved: Sendable {
        /// `dh · kernel + dw` of the max's row and column in the window, one per output element;
        /// `Saved.none` when the window held no input pixel.
        public var window: [UInt8]
        /// A window that held no input pixel.
        public static let none: UInt8 = 255
        /// Bytes kept.
        public var byteCount: Int { window.count }
    }

    /// `output[n,c,oh,ow] = max` of the window's in-image pixels (the first one on ties), and
    /// each max's place for `backward`.
    public static func forward(
        _ g: Geometry, input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
        threading: Threading = .serial
    ) throws(TensorError) -> Saved {
        try check(g, input, output)
        var places = [UInt8](repeating: Saved.none, count: output.count)
        places.withUnsafeMutableBufferPointer { am in
            pool(g, input.baseAddress!, output.baseAddress!, places: am.baseAddress!, threading: threading)
        }
        return Saved(window: places)
    }

    /// The same output as `forward`, bit for bit, keeping nothing for backward (inference): no
    /// places are written.
    public static func forwardOnly(
        _ g: Geometry, input: UnsafeBufferPointer<Float>, output: UnsafeMutableBufferPointer<Float>,
        threading: Threading = .serial
    ) throws(TensorError) {
        try check(g, input, output)
        pool(g, input.baseAddress!, output.baseAddress!, places: nil, threading: threading)
    }

    private static func check(_ g: Geometry, _ input: UnsafeBufferPointer<Float>, _ output: UnsafeMutableBufferPointer<Float>) throws(TensorError) {
        try g.validate()
        try TensorError.check("MaxPool2D", "input", count: input.count, expected: g.inputShape)
        try TensorError.check("MaxPool2D", "output", count: output.count, expected: g.outputShape)
    }

    /// Both forwards: planes split over the threads; `places` (one per output) written when given.
    /// 2×2 stride-2 windows inside the map (VGG's pool1–pool4) take eight outputs per step.
    private static func pool(_ g: Geometry, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                             places a: UnsafeMutablePointer<UInt8>?, threading: Threading) {
        let (oh, ow) = (g.outHeight, g.outWidth)
        // Outputs j < halfWidth of a 2×2 stride-2 unpadded pooling have their whole window in the row pair.
        let pairs = g.kernel == 2 && g.stride == 2 && g.pad == 0, halfWidth = min(ow, g.width / 2)
        threading.forEachChunk(g.batch * g.channels, minimumPerChunk: 4) { planes in
            for plane in planes {
                let xp = x + plane * g.height * g.width
                let yp = y + plane * oh * ow, ap = a.map { $0 + plane * oh * ow }
                for i in 0..<oh {
                    let h0 = i * g.stride - g.pad, h1 = min(h0 + g.kernel, g.height)
                    var j = 0
                    if pairs && h1 == h0 + 2 {
                        j = maxOfPairs(top: xp + h0 * g.width, bottom: xp + (h0 + 1) * g.width, into: yp + i * ow,
                                       places: ap.map { $0 + i * ow }, count: halfWidth)
                    }
                    while j < ow {
                        let w0 = j * g.stride - g.pad, w1 = min(w0 + g.kernel, g.width)
                        if a == nil && h0 >= 0 && h1 == h0 + g.kernel && w0 >= 0 && w1 == w0 + g.kernel {
                            // A window inside the map, nothing to record: the same scan without the bookkeeping.
                            var best = xp[h0 * g.width + w0]
                            for h in h0..<h1 { for w in w0..<w1 where xp[h * g.width + w] > best { best = xp[h * g.width + w] } }
                            yp[i * ow + j] = best
                            j += 1
                            continue
                        }
                        var best = -Float.infinity, at = Saved.none
                        for h in max(h0, 0)..<max(h1, max(h0, 0)) {
                            for w in max(w0, 0)..<max(w1, max(w0, 0)) where xp[h * g.width + w] > best || at == Saved.none {
                                best = xp[h * g.width + w]; at = UInt8((h - h0) * g.kernel + (w - w0))
                            }
                        }
                        yp[i * ow + j] = at == Saved.none ? 0 : best
                        ap?[i * ow + j] = at
                        j += 1
                    }
                }
            }
        }
    }

    /// `out[j] = max(top[2j], top[2j+1], bottom[2j], bottom[2j+1])`, taken in that order with
    /// the first of equals kept (as `pool`'s scan), and the max's place in its window (0 … 3)
    /// in `places[j]` when given, for as many whole groups of eight of the `count` outputs as
    /// there are; returns how many outputs it wrote.
    @inline(__always)
    private static func maxOfPairs(top: UnsafePointer<Float>, bottom: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                                   places: UnsafeMutablePointer<UInt8>?, count: Int) -> Int {
        var j = 0
        while j + 8 <= count {
            let t = UnsafeRawPointer(top + 2 * j).loadUnaligned(as: SIMD16<Float>.self)
            let b = UnsafeRawPointer(bottom + 2 * j).loadUnaligned(as: SIMD16<Float>.self)
            var m = t.evenHalf
            let right = t.oddHalf .> m
            m.replace(with: t.oddHalf, where: right)
            let below = b.evenHalf .> m
            m.replace(with: b.evenHalf, where: below)
            let belowRight = b.oddHalf .> m
            m.replace(with: b.oddHalf, where: belowRight)
            UnsafeMutableRawPointer(out + j).storeBytes(of: m, as: SIMD8<Float>.self)
            if let places {
                var at = SIMD8<Int32>(repeating: 0)
                at.replace(with: 1, where: right)
                at.replace(with: 2, where: below)
                at.replace(with: 3, where: belowRight)
                UnsafeMutableRawPointer(places + j).storeBytes(of: SIMD8<UInt8>(truncatingIfNeeded: at), as: SIMD8<UInt8>.self)
            }
            j += 8
        }
        return j
    }

    /// `backward` for as many whole groups of eight of the `count` outputs of a 2×2 stride-2 row
    /// as there are (their windows inside the map): each output's gradient added to the input at
    /// its max's place (0 … 3) in the row pair `top`/`bottom`, the other three left untouched,
    /// as the scalar loop does; returns how many outputs it routed.
    @inline(__always)
    private static func routePairs(_ dy: UnsafePointer<Float>, places: UnsafePointer<UInt8>, top: UnsafeMutablePointer<Float>,
                                   bottom: UnsafeMutablePointer<Float>, count: Int) -> Int {
        // Lane 2q + e of a row pair's 16 inputs belongs to output q: its value and place, doubled.
        @inline(__always) func doubled<T: SIMDScalar>(_ v: SIMD8<T>) -> SIMD16<T> {
            SIMD16(lowHalf: SIMD8(v[0], v[0], v[1], v[1], v[2], v[2], v[3], v[3]),
                   highHalf: SIMD8(v[4], v[4], v[5], v[5], v[6], v[6], v[7], v[7]))
        }
        let topPlaces = SIMD16<Int32>(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1), bottomPlaces = topPlaces &+ 2
        var j = 0
        while j + 8 <= count {
            let d = doubled(UnsafeRawPointer(dy + j).loadUnaligned(as: SIMD8<Float>.self))
            let at = doubled(SIMD8<Int32>(truncatingIfNeeded: UnsafeRawPointer(places + j).loadUnaligned(as: SIMD8<UInt8>.self)))
            let t = UnsafeMutableRawPointer(top + 2 * j), b = UnsafeMutableRawPointer(bottom + 2 * j)
            var tv = t.loadUnaligned(as: SIMD16<Float>.self), bv = b.loadUnaligned(as: SIMD16<Float>.self)
            tv.replace(with: tv + d, where: at .== topPlaces)
            bv.replace(with: bv + d, where: at .== bottomPlaces)
            t.storeBytes(of: tv, as: SIMD16<Float>.self)
            b.storeBytes(of: bv, as: SIMD16<Float>.self)
            j += 8
        }
        return j
    }

    /// Routes each output gradient to its window's max: `gradInput[max's place] += gradOutput`.
    /// Accumulates; zeroing is the caller's job — or, with `overwriting`, gradInput's contents
    /// are undefined on entry and each plane is zeroed just before its gradients are routed
    /// (while it is in cache, instead of a pass of its own over the whole buffer).
    public static func backward(
        _ g: Geometry, saved: Saved, gradOutput: UnsafeBufferPointer<Float>,
        gradInput: UnsafeMutableBufferPointer<Float>, overwriting: Bool = false, threading: Threading = .serial
    ) throws(TensorError) {
        try g.validate()
        try TensorError.check("MaxPool2D.backward", "gradOutput", count: gradOutput.count, expected: g.outputShape)
        try TensorError.check("MaxPool2D.backward", "gradInput", count: gradInput.count, expected: g.inputShape)
        try TensorError.check("MaxPool2D.backward", "saved.window", count: saved.window.count, expected: g.outputShape)
        let (oh, ow) = (g.outHeight, g.outWidth), outPlane = oh * ow, inPlane = g.height * g.width
        let dy = gradOutput.baseAddress!, dx = gradInput.baseAddress!
        // As in `pool`: 2×2 stride-2 windows inside the map, eight outputs per step.
        let pairs = g.kernel == 2 && g.stride == 2 && g.pad == 0, halfWidth = min(ow, g.width / 2)
        saved.window.withUnsafeBufferPointer { am in
            threading.forEachChunk(g.batch * g.channels, minimumPerChunk: 4) { planes in
                for plane in planes {
                    let places = am.baseAddress! + plane * outPlane, dyp = dy + plane * outPlane, dxp = dx + plane * inPlane
                    if overwriting { dxp.update(repeating: 0, count: inPlane) }
                    for i in 0..<oh {
                        let h0 = i * g.stride - g.pad
                        var first = 0
                        if pairs && h0 + 1 < g.height {
                            first = routePairs(dyp + i * ow, places: places + i * ow, top: dxp + h0 * g.width,
                                               bottom: dxp + (h0 + 1) * g.width, count: halfWidth)
                        }
                        for j in first..<ow {
                            let at = places[i * ow + j]
                            guard at != Saved.none else { continue }
                            let h = h0 + Int(at) / g.kernel, w = j * g.stride - g.pad + Int(at) % g.kernel
                            dxp[h * g.width + w] += dyp[i * ow + j]
                        }
                    }
                }
            }
        }
    }
}
