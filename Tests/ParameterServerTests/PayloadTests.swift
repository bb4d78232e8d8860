@testable import ParameterServer
import Testing

/// Payloads shared instead of copied: the fused copy-and-hash, and corruption caught on the
/// zero-copy receive path through real ZeroMQ sockets.
@Suite("Payload and zero-copy frames")
struct PayloadTests {
    @Test("copy-and-hash copies every byte and equals the plain hash, for every length and offset up to 80")
    func copyAndHash() {
        let source = (0..<96).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        source.withUnsafeBytes { all in
            for offset in 0..<4 {
                for length in 0...80 {
                    let bytes = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + length)])
                    let payload = Payload(copying: bytes)
                    #expect(Array(payload) == Array(bytes), "offset \(offset) length \(length)")
                    #expect(payload.hash == WireChecksum.payloadHash(bytes), "offset \(offset) length \(length)")
                }
            }
        }
    }

    @Test("every single-bit flip of a payload (whole words and tail bytes) or of a header is caught")
    func everyBitFlip() throws {
        let codec = WireCodec()
        let m = Message(header: MessageHeader(command: .pushPull, key: 3, sender: 1, round: 7, requestID: 2),
                        payload: Payload((0..<67).map { UInt8($0) }))
        let frames = codec.encode(m)
        for byte in 0..<frames[1].count {
            for bit in 0..<8 {
                var bad = frames[1]; bad[byte] ^= UInt8(1 << bit)
                #expect(throws: WireError.self, "payload byte \(byte) bit \(bit)") { _ = try codec.decode(frames: [frames[0], bad]) }
            }
        }
        for byte in 0..<MessageHeader.byteCount {
            for bit in 0..<8 {
                var bad = frames[0]; bad[byte] ^= UInt8(1 << bit)
                #expect(throws: WireError.self, "header byte \(byte) bit \(bit)") { _ = try codec.decode(frames: [bad, frames[1]]) }
            }
        }
    }

    @Test("over ZeroMQ, a 1 MB payload arrives intact without copies, and a flipped bit anywhere in it is caught")
    func zeroCopyReceiveCatchesCorruption() throws {
        let server = try ZeroMQTransport.bind("tcp://127.0.0.1:0")
        defer { server.close() }
        let endpoint = try #require(server.boundEndpoint)
        let client = try ZeroMQTransport.connect(to: [endpoint])
        defer { client.close() }
        let values = (0..<262_147).map { Float($0) * 0.25 - 7 }
        let header = MessageHeader(command: .push, key: 1, sender: 0, round: 3, requestID: 5)
        // Sent from a buffer the caller then reuses: the transport sends its own copy.
        var scratch = values
        try scratch.withUnsafeBytes { try client.send(header, payload: $0, to: PeerID(endpoint)) }
        scratch.withUnsafeMutableBufferPointer { $0.update(repeating: .nan) }
        guard case .message(let got, _)? = try server.receive(deadline: server.now() + 10) else {
            Issue.record("no intact message within 10 s"); return
        }
        #expect(try got.floats() == values)
        let frames = WireCodec().encode(Message(header: header, payload: values.withUnsafeBufferPointer { Payload(floats: $0) }))
        for position in [0, 5, frames[1].count / 2 + 3, frames[1].count - 1] {
            var bad = frames[1]; bad[position] ^= 0x10
            try client.sendRaw([frames[0], bad], to: PeerID(endpoint))
            let received = try server.receive(deadline: server.now() + 10)
            guard case .malformed(let error, _)? = received, case .checksumMismatch = error else {
                Issue.record("a flipped bit at byte \(position) was not caught: \(String(describing: received))"); continue
            }
        }
    }
}

@Suite("Non-finite scan in the checksum pass")
struct FloatScanTests {
    @Test("the fused pass flags NaN, ±Inf and NaN payloads at every position, and no finite value")
    func scanFindsEveryNonFinite() {
        let finite: [Float] = [0, -0.0, 1, -1, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                               .leastNormalMagnitude, 3.4e38, 1e-45]
        for count in [1, 2, 7, 8, 9, 17] {
            let clean = (0..<count).map { finite[$0 % finite.count] }
            clean.withUnsafeBytes { #expect(!WireChecksum.hashAndScan(floats: $0).hasNonFinite, "count \(count)") }
            for position in 0..<count {
                for bad in [Float.nan, .infinity, -.infinity, Float(bitPattern: 0x7FC0_0001), Float(bitPattern: 0xFF80_0001)] {
                    var values = clean; values[position] = bad
                    values.withUnsafeBytes { raw in
                        let (hash, flagged) = WireChecksum.hashAndScan(floats: raw)
                        #expect(flagged, "count \(count) position \(position) \(bad)")
                        #expect(hash == WireChecksum.payloadHash(raw))
                    }
                }
            }
        }
    }

    @Test("a decoded push says where its first non-finite value is; a message built in-process is unchecked")
    func decodedPushCarriesTheCheck() throws {
        let codec = WireCodec()
        let values: [Float] = [1, 2, .infinity, .nan, 5]
        let m = values.withUnsafeBufferPointer { Message(header: MessageHeader(command: .push, sender: 0), floats: $0) }
        #expect(m.floatCheck == nil)
        let frames = codec.encode(m)
        // Through a received frame (the fused pass) and through a copy (a pass of its own).
        final class Owner {}
        let fused = try frames[1].withUnsafeBytes { raw in
            try codec.decode(header: frames[0], payload: Payload(adopting: raw, owner: Owner())).floatCheck
        }
        #expect(fused == .nonFinite(index: 2, value: .infinity))
        #expect(try codec.decode(frames: frames).floatCheck == .nonFinite(index: 2, value: .infinity))
        let clean = [Float](repeating: 0.5, count: 9).withUnsafeBufferPointer { Message(header: MessageHeader(command: .pushPull), floats: $0) }
        #expect(try codec.decode(frames: codec.encode(clean)).floatCheck == .allFinite)
        #expect(try codec.decode(frames: codec.encode(Message(header: MessageHeader(command: .pull)))).floatCheck == nil)
    }
}
