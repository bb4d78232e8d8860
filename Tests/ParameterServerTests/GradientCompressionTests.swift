import Optimizers
@testable import ParameterServer
import Testing

/// Gradient compression (MXNet's `set_gradient_compression`): the codec kernels alone, the
/// worker's error feedback, the wire encoding, the agreement at start-up, and a dist_sync round
/// through real `ServerLoop`s on the in-process transport.
@Suite("Gradient compression")
struct GradientCompressionTests {
    let twoBit = GradientCompression(kind: .twoBit, threshold: 0.5)

    func quantize(_ values: [Float], residual: inout [Float], threshold: Float = 0.5) -> [UInt8] {
        var out = [UInt8](repeating: 0xAA, count: TwoBitCodec.byteCount(values: values.count))
        values.withUnsafeBufferPointer { v in
            residual.withUnsafeMutableBufferPointer { r in out.withUnsafeMutableBytes { TwoBitCodec.quantize(v, residual: r, threshold: threshold, into: $0) } }
        }
        return out
    }

    func dequantize(_ bytes: [UInt8], count: Int, threshold: Float = 0.5) -> [Float] {
        var values = [Float](repeating: .nan, count: count)
        bytes.withUnsafeBytes { b in values.withUnsafeMutableBufferPointer { TwoBitCodec.dequantize(b, threshold: threshold, into: $0) } }
        return values
    }

    // MARK: - 2bit

    @Test("2bit edge values: zero, exactly ±threshold, just inside, large; MXNet's bit layout; the residual keeps the rest")
    func twoBitEdges() {
        let t: Float = 0.5
        let g: [Float] = [0, t, -t, t.nextDown, (-t).nextUp, 7, -7, 0.25, 1e30, -0.0]
        var residual = [Float](repeating: 0, count: g.count)
        let bytes = quantize(g, residual: &residual)
        #expect(bytes.count == 4)  // 10 values: one 32-bit word
        // Values 0…3 in byte 0, highest bits first: 00 11 10 00; values 4…7: 00 11 10 00; 8, 9: 11 00.
        #expect(bytes == [0b00_11_10_00, 0b00_11_10_00, 0b11_00_00_00, 0])
        #expect(dequantize(bytes, count: g.count) == [0, t, -t, 0, 0, t, -t, 0, t, 0])
        #expect(residual == [0, 0, 0, t.nextDown, (-t).nextUp, 6.5, -6.5, 0.25, 1e30 - t, 0])
        // 16 values fill a word exactly; 17 need a second one.
        #expect(TwoBitCodec.byteCount(values: 16) == 4 && TwoBitCodec.byteCount(values: 17) == 8 && TwoBitCodec.byteCount(values: 0) == 0)
        // Bits 01, never written, decode to 0 (as MXNet's dequantize_2bit).
        #expect(dequantize([0b01_01_01_01, 0, 0, 0], count: 4) == [0, 0, 0, 0])
    }

    @Test("2bit residual: a value below the threshold is sent once the residual accumulates past it")
    func residualCarried() {
        var residual: [Float] = [0, 0]
        var sent: [[Float]] = []
        for _ in 0..<5 { sent.append(dequantize(quantize([0.2, -0.3], residual: &residual), count: 2)) }
        // 0.2, 0.4, 0.6 → sends 0.5 at the third step (residual 0.1), then 0.3, 0.5 → sends again.
        #expect(sent.map { $0[0] } == [0, 0, 0.5, 0, 0.5])
        // −0.3, −0.6 → sends −0.5 at the second (residual −0.1), −0.4, −0.7 → the fourth (−0.2), −0.5 → the fifth.
        #expect(sent.map { $0[1] } == [0, -0.5, 0, -0.5, -0.5])
        // Error feedback loses nothing: what was sent plus what is left is what was pushed.
        #expect(abs(sent.map { $0[0] }.reduce(0, +) + residual[0] - 1.0) < 1e-6)
        #expect(abs(sent.map { $0[1] }.reduce(0, +) + residual[1] + 1.5) < 1e-6)
    }

    /// MXNet 1.9.1 itself: `scripts/fixtures/make_gradient_compression.py` pushes this gradient from
    /// two CPU contexts into a 'device' kvstore with `{'type': '2bit', 'threshold': 0.5}` three
    /// times and pulls the merged (dequantized, summed) values; the rows are what it printed.
    @Test("two residual stores match MXNet 1.9.1's 2bit kvstore over three pushes")
    func matchesMXNet() throws {
        let g: [Float] = [0, 0.5, -0.5, 0.49, -0.49, 1.7, -1.7, 0.3, 0.3, 0.25, 0.6, -0.6, 0, 0, 0, 0, 0.2, 0.2, 0.2, 0.2]
        let mxnet: [[Float]] = [
            [0, 1, -1, 0, 0, 1, -1, 0, 0, 0, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 1, -1, 1, -1, 1, -1, 1, 1, 1, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0],
            [0, 1, -1, 1, -1, 1, -1, 0, 0, 0, 1, -1, 0, 0, 0, 0, 1, 1, 1, 1],
        ]
        let devices = [GradientEncoder(compression: twoBit), GradientEncoder(compression: twoBit)]
        for d in devices { d.compressedKeys = [0] }
        for step in 0..<3 {
            var merged = [Float](repeating: 0, count: g.count)
            for d in devices {
                try g.withUnsafeBufferPointer { gp in
                    try d.encode(key: 0, range: 0..<g.count, of: gp) { encoding, payload in
                        #expect(encoding == .twoBit && payload.count == 8)
                        let values = dequantize(Array(payload), count: g.count)
                        for i in merged.indices { merged[i] += values[i] }
                    }
                }
            }
            #expect(merged == mxnet[step], "step \(step)")
        }
    }

    // MARK: - fp16 and bf16

    @Test("fp16 decode equals Swift's Float16 for all 65536 patterns")
    func float16DecodeExhaustive() {
        for h in 0...UInt16.max {
            let ours = HalfPrecisionCodec.float(float16Bits: h), swift = Float(Float16(bitPattern: h))
            if swift.isNaN { #expect(ours.isNaN) } else if ours.bitPattern != swift.bitPattern {
                Issue.record("fp16 0x\(String(h, radix: 16)): \(ours) ≠ \(swift)"); return
            }
        }
    }

    @Test("fp16 encode rounds to nearest even as Swift's Float16 does: every fp16 value, its neighbours and every tie")
    func float16EncodeTies() {
        var mismatches = 0
        for h in UInt16(0)..<0x7C00 {
            let f = HalfPrecisionCodec.float(float16Bits: h), next = HalfPrecisionCodec.float(float16Bits: h + 1)
            let tie = (f + next) / 2  // exact: 12 significant bits
            for x in [f, f.nextUp, f.nextDown, tie, tie.nextUp, tie.nextDown, -f, -tie] where x.isFinite {
                if HalfPrecisionCodec.float16Bits(x) != Float16(x).bitPattern { mismatches += 1 }
            }
        }
        #expect(mismatches == 0)
        // Edges: largest fp16, the first value rounding to Inf, subnormals, underflow to zero.
        #expect(HalfPrecisionCodec.float16Bits(65504) == 0x7BFF && HalfPrecisionCodec.float16Bits(65519.996) == 0x7BFF)
        #expect(HalfPrecisionCodec.float16Bits(65520) == 0x7C00 && HalfPrecisionCodec.float16Bits(-1e10) == 0xFC00)
        #expect(HalfPrecisionCodec.float16Bits(0x1p-24) == 0x0001 && HalfPrecisionCodec.float16Bits(0x1p-25) == 0  // tie → even (0)
                && HalfPrecisionCodec.float16Bits(0x1.8p-24) == 0x0002 && HalfPrecisionCodec.float16Bits(0x1p-14) == 0x0400)
        #expect(HalfPrecisionCodec.float16Bits(-0.0) == 0x8000 && HalfPrecisionCodec.float16Bits(.leastNonzeroMagnitude) == 0)
        #expect(HalfPrecisionCodec.float16Bits(.nan) & 0x7FFF > 0x7C00)
    }

    /// The naive reference: the nearer of the two bfloat16 neighbours in Double, ties to the even one.
    func bfloat16Reference(_ x: Float) -> UInt16 {
        let low = x.bitPattern & 0xFFFF_0000, high = low &+ 0x1_0000
        // Past the largest bfloat16 the upper neighbour is Inf, which rounds like 2^128.
        func value(_ b: UInt32) -> Double {
            b & 0x7FFF_FFFF == 0x7F80_0000 ? (b >> 31 == 1 ? -0x1p128 : 0x1p128) : Double(Float(bitPattern: b))
        }
        let dl = abs(Double(x) - value(low)), dh = abs(value(high) - Double(x))
        if dl != dh { return UInt16((dl < dh ? low : high) >> 16) }
        return UInt16(((low >> 16) & 1 == 0 ? low : high) >> 16)
    }

    @Test("bf16 encode equals the naive nearest-even reference: edges, ties, subnormals, and 200 000 spread patterns")
    func bfloat16Encode() {
        let edges: [Float] = [0, -0.0, 1, 1 + 0x1p-8, 1 + 0x1.8p-7, -(1 + 0x1p-8), .leastNonzeroMagnitude, .leastNormalMagnitude,
                              Float(bitPattern: 0x0000_8000), Float(bitPattern: 0x0001_8000), Float(bitPattern: 0x0080_8000),
                              .greatestFiniteMagnitude, 3.3895314e38, 1e-40, -1e-42]
        for x in edges { #expect(HalfPrecisionCodec.bfloat16Bits(x) == bfloat16Reference(x), "\(x)") }
        #expect(HalfPrecisionCodec.bfloat16Bits(1 + 0x1p-8) == 0x3F80)  // tie → even (1)
        #expect(HalfPrecisionCodec.bfloat16Bits(1 + 0x1.8p-7) == 0x3F82)  // tie → even (1 + 2^-6)
        #expect(HalfPrecisionCodec.bfloat16Bits(Float(bitPattern: 0x0001_8000)) == 0x0002)  // subnormal tie → even
        #expect(HalfPrecisionCodec.bfloat16Bits(.greatestFiniteMagnitude) == 0x7F80)  // beyond bf16's largest: Inf
        var mismatches = 0
        var bits: UInt32 = 12345
        for _ in 0..<200_000 {
            bits = bits &* 1_664_525 &+ 1_013_904_223
            let x = Float(bitPattern: bits)
            if x.isFinite, HalfPrecisionCodec.bfloat16Bits(x) != bfloat16Reference(x) { mismatches += 1 }
        }
        #expect(mismatches == 0)
        for h: UInt16 in [0, 0x8000, 0x0001, 0x3F80, 0x7F7F, 0xFF80] {
            #expect(HalfPrecisionCodec.bfloat16Bits(HalfPrecisionCodec.float(bfloat16Bits: h)) == h)
        }
    }

    @Test("fp16/bf16 with error feedback: a value below fp16's smallest subnormal is sent once it has accumulated")
    func halfPrecisionResidual() throws {
        for kind in [GradientCompression.Kind.fp16, .bf16] {
            let encoder = GradientEncoder(compression: GradientCompression(kind: kind))
            encoder.compressedKeys = [3]
            let g: [Float] = [0x1p-26, 1 + 0x1p-12, 0, -2.5]
            var sent = [Float](repeating: 0, count: g.count)
            for _ in 0..<8 {
                try g.withUnsafeBufferPointer { gp in
                    try encoder.encode(key: 3, range: 0..<g.count, of: gp) { encoding, payload in
                        #expect(payload.count == 8 && encoding == (kind == .fp16 ? .float16 : .bfloat16))
                        var values = [Float](repeating: 0, count: g.count)
                        values.withUnsafeMutableBufferPointer { HalfPrecisionCodec.decode(payload, bfloat16: kind == .bf16, into: $0) }
                        for i in sent.indices { sent[i] += values[i] }
                    }
                }
            }
            // Eight pushes: what arrived plus what is left is exactly eight gradients.
            let residual = try #require(encoder.residuals.residual(of: 3))
            for i in g.indices { #expect(sent[i] + residual[i] == 8 * g[i], "\(kind) value \(i)") }
            if kind == .fp16 { #expect(sent[0] > 0) }  // 2^-26 alone rounds to 0 in fp16; accumulated, it is sent
        }
    }

    @Test("NaN, ±Inf and fp16 overflow are rejected with an error naming the key and index", arguments: [
        GradientCompression(kind: .twoBit), GradientCompression(kind: .fp16), GradientCompression(kind: .bf16)])
    func unencodable(_ compression: GradientCompression) {
        let encoder = GradientEncoder(compression: compression)
        encoder.compressedKeys = [7]
        for bad in [Float.nan, .infinity, -.infinity] {
            let g: [Float] = [1, 2, 3, bad, 5]
            #expect {
                try g.withUnsafeBufferPointer { gp in try encoder.encode(key: 7, range: 2..<5, of: gp) { _, _ in Issue.record("sent") } }
            } throws: { error in
                guard case .unencodable(7, 3, _, compression) = error as? GradientCompressionError else { return false }
                return "\(error)".contains("key 7") && "\(error)".contains("non-finite")
            }
        }
        let big: [Float] = [1, 70000]
        let overflow = Result {
            try big.withUnsafeBufferPointer { gp in try encoder.encode(key: 7, range: 0..<2, of: gp) { _, _ in } }
        }
        if compression.kind == .fp16 {
            #expect(throws: GradientCompressionError.unencodable(key: 7, index: 1, value: 70000, compression: compression)) { try overflow.get() }
            #expect("\(GradientCompressionError.unencodable(key: 7, index: 1, value: 70000, compression: compression))".contains("bf16"))
        } else {
            #expect(throws: Never.self) { try overflow.get() }
        }
    }

    @Test("summed-only keys and `none` go out as the caller's float32 memory, uncompressed")
    func uncompressedPassThrough() throws {
        let encoder = GradientEncoder(compression: twoBit)
        encoder.compressedKeys = [1]
        let g: [Float] = [3, 4]
        try g.withUnsafeBufferPointer { gp in
            try encoder.encode(key: 2, range: 0..<2, of: gp) { encoding, payload in
                #expect(encoding == .float32 && payload.baseAddress == UnsafeRawPointer(gp.baseAddress))
            }
        }
        #expect(encoder.residuals.residual(of: 2) == nil)
    }

    // MARK: - Setting, wire, agreement

    @Test("the setting: parsed from flag or environment, MXNet's default threshold, clear errors")
    func setting() throws {
        #expect(try GradientCompression.parse(kind: "2bit", threshold: nil) == GradientCompression(kind: .twoBit, threshold: 0.5))
        #expect(try GradientCompression.parse(kind: "FP16", threshold: "0.1") == GradientCompression(kind: .fp16))
        #expect("\(try GradientCompression.parse(kind: "2bit", threshold: "0.25"))" == "2bit (threshold 0.25)")
        #expect(throws: GradientCompressionError.unknownKind("3bit", source: "--gradient-compression")) {
            try GradientCompression.parse(kind: "3bit", threshold: nil)
        }
        for bad in ["0", "-1", "nan", "x"] {
            #expect(throws: GradientCompressionError.invalidThreshold(bad)) { try GradientCompression.parse(kind: "2bit", threshold: bad) }
        }
        let env = ["DMLC_ROLE": "worker", "DMLC_PS_ROOT_URI": "127.0.0.1", "DMLC_PS_ROOT_PORT": "9091", "DMLC_NUM_SERVER": "1",
                   "DMLC_NUM_WORKER": "2"]
        #expect(try ClusterConfig.resolve(environment: env).gradientCompression == .none)
        var e = env
        e["PS_GRADIENT_COMPRESSION"] = "2bit"; e["PS_COMPRESSION_THRESHOLD"] = "0.125"
        #expect(try ClusterConfig.resolve(environment: e).gradientCompression == GradientCompression(kind: .twoBit, threshold: 0.125))
        e["PS_GRADIENT_COMPRESSION"] = "int8"
        #expect { _ = try ClusterConfig.resolve(environment: e) } throws: { "\($0)".contains("PS_GRADIENT_COMPRESSION=int8 is invalid") }
        e["PS_GRADIENT_COMPRESSION"] = "2bit"; e["PS_COMPRESSION_THRESHOLD"] = "-3"
        #expect { _ = try ClusterConfig.resolve(environment: e) } throws: { "\($0)".contains("PS_COMPRESSION_THRESHOLD=-3 is invalid") }
    }

    @Test("the header carries the payload encoding (flags bits 2–4); unknown flags and broken sizes are rejected")
    func wireEncoding() throws {
        let codec = WireCodec()
        for encoding in PayloadEncoding.allCases {
            var h = MessageHeader(command: .pushPull, key: 3, sender: 1)
            h.encoding = encoding
            let payload = [UInt8](repeating: 7, count: encoding.byteCount(values: 5))
            let frames = codec.encode(Message(header: h, payload: payload))
            #expect(frames[0][7] == encoding.rawValue << 2)
            let back = try codec.decode(frames: frames)
            #expect(back.header.encoding == encoding && back.payload == Payload(payload))
        }
        var h = MessageHeader(command: .push)
        h.encoding = .float16
        var frames = codec.encode(Message(header: h, payload: [1, 2, 3]))
        #expect(throws: WireError.payloadNotWholeUnits(bytes: 3, encoding: .float16)) { _ = try codec.decode(frames: frames) }
        frames = codec.encode(Message(header: MessageHeader(command: .push), payload: [1, 2, 3, 4]))
        for flags: UInt8 in [4 << 2, 7 << 2, 0x20] {
            var bad = frames[0]; bad[7] = flags
            #expect(throws: WireError.unknownFlags(flags)) { _ = try codec.decode(frames: [bad, frames[1]]) }
        }
    }

    @Test("workers that differ in compression are refused naming both settings, and every node that joined is told")
    func agreement() throws {
        var joined = Registrations(expectedServers: 1, expectedWorkers: 3)
        try joined.add(Registration(role: .worker, endpoint: nil, requestedRank: nil, compression: twoBit), from: PeerID("a"), address: "10.0.0.1")
        try joined.add(Registration(role: .worker, endpoint: nil, requestedRank: nil, compression: twoBit), from: PeerID("b"), address: nil)
        #expect {
            try joined.add(Registration(role: .worker, endpoint: nil, requestedRank: nil, compression: GradientCompression(kind: .twoBit, threshold: 1)),
                           from: PeerID("c"), address: nil)
        } throws: { "\($0)".contains("2bit (threshold 1.0) but the worker at 10.0.0.1 registered with 2bit (threshold 0.5)") }
        #expect { try joined.add(Registration(role: .worker, endpoint: nil, requestedRank: nil), from: PeerID("d"), address: nil) } throws: {
            "\($0)".contains("compression none but the worker at 10.0.0.1 registered with 2bit (threshold 0.5)")
        }

        let network = InProcessNetwork()
        let scheduler = network.endpoint("inproc://scheduler")
        func join(_ name: String, _ r: Registration) throws -> InProcessTransport {
            let t = network.endpoint(name)
            try t.send(try Message(header: MessageHeader(command: .register), json: r), to: PeerID("inproc://scheduler"))
            return t
        }
        let server = try join("s0", Registration(role: .server, endpoint: "tcp://a:1", requestedRank: nil))
        let w0 = try join("w0", Registration(role: .worker, endpoint: nil, requestedRank: nil, compression: GradientCompression(kind: .fp16)))
        let w1 = try join("w1", Registration(role: .worker, endpoint: nil, requestedRank: nil, compression: GradientCompression(kind: .bf16)))
        #expect(throws: Registrations.Refusal.self) {
            try Rendezvous.schedule(over: scheduler,
                                    config: ClusterConfig(role: .scheduler, rootURI: "127.0.0.1", rootPort: 1, numServers: 1, numWorkers: 2),
                                    logger: .init(label: "test"), stopFlag: StopFlag())
        }
        for t in [server, w0, w1] {
            guard case .message(let m, _)? = try t.receive(deadline: network.now) else { Issue.record("no answer"); continue }
            #expect(m.header.isError && m.text.contains("compression bf16 but the worker at in-process w0 registered with fp16"), "\(m.text)")
        }
    }

    // MARK: - Through the server

    @Test("dist_sync with 2bit through a real ServerLoop: the update of the sum of the dequantized pushes; a push in another encoding is refused")
    func distSyncThroughServer() throws {
        let cluster = InProcessCluster(workers: 2)
        cluster.config.gradientCompression = twoBit
        let other = cluster.rawWorker(1)
        let server = PeerID(cluster.endpoints[0])
        try other.send(Message(header: MessageHeader(command: .barrier, sender: 1, round: 1, requestID: 1)), to: server)
        let client = cluster.client()
        var w: [Float] = [1, 1, 1, 1]
        try client.initialize(keys: [0: (w, .one, true)], mode: .sync, optimizer: OptimizerConfig(kind: .sgd, learningRate: 1))
        #expect(cluster.loops[0].server.setup?.compression == twoBit)
        _ = try other.receive(deadline: cluster.network.now)  // the barrier's release
        // Worker 1 encodes as a KVClient would, with its own residuals.
        let encoder1 = GradientEncoder(compression: twoBit)
        encoder1.compressedKeys = [0]
        func push1(_ g: [Float], round: UInt64, id: UInt32) throws {
            try g.withUnsafeBufferPointer { gp in
                try encoder1.encode(key: 0, range: 0..<4, of: gp) { encoding, payload in
                    var h = MessageHeader(command: .push, sender: 1, round: round, requestID: id)
                    h.encoding = encoding
                    try other.send(h, payload: payload, to: server)
                }
            }
        }
        // Round 0: worker 0 pushes [0.7, 0.2, -0.6, 0], worker 1 [0.5, 0.2, 0.1, -0.4].
        try [Float](arrayLiteral: 0.7, 0.2, -0.6, 0).withUnsafeBufferPointer { g in
            try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: g, into: $0) }
        }
        try push1([0.5, 0.2, 0.1, -0.4], round: 0, id: 9)
        try client.wait()
        // Dequantized: [0.5, 0, -0.5, 0] + [0.5, 0, 0, 0] = [1, 0, -0.5, 0]; SGD with learning rate 1.
        #expect(w == [0, 1, 1.5, 1])
        // Round 1: the same again; the residuals (0.2, 0.2, -0.1, 0) and (0, 0.2, 0.1, -0.4) now carry values past 0.5.
        try [Float](arrayLiteral: 0.7, 0.2, -0.6, 0).withUnsafeBufferPointer { g in
            try w.withUnsafeMutableBufferPointer { try client.pushPull(key: 0, gradient: g, into: $0) }
        }
        try push1([0.5, 0.2, 0.1, -0.4], round: 1, id: 10)
        try client.wait()
        // Worker 0: 0.9 → 0.5, 0.4 → 0, −0.7 → −0.5, 0; worker 1: 0.5, 0.4 → 0, 0.2 → 0, −0.8 → −0.5.
        #expect(w == [-1, 1, 2, 1.5])
        let residual = try #require(client.encoder.residuals.residual(of: 0))
        #expect(zip(residual, [0.4, 0.4, -0.2, 0] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 }, "\(residual)")
        // A float32 push where 2bit was agreed is refused, naming both.
        let plain: [Float] = [1, 2, 3, 4]
        try plain.withUnsafeBufferPointer {
            try other.send(MessageHeader(command: .push, sender: 1, round: 2, requestID: 11), payload: UnsafeRawBufferPointer($0), to: server)
        }
        try cluster.loops[0].serve(until: cluster.network.now)
        var refusal: Message?
        while case .message(let m, _)? = try other.receive(deadline: cluster.network.now) { if m.header.requestID == 11 { refusal = m } }
        let m = try #require(refusal)
        #expect(m.header.isError && m.text.contains("encoded float32 but the cluster agreed on 2bit"), "\(m.text)")
    }
}
