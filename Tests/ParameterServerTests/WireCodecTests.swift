@testable import ParameterServer
import Tensor
import Testing

@Suite("Wire protocol")
struct WireCodecTests {
    let codec = WireCodec()

    func sample(_ command: Command) -> Message {
        let h = MessageHeader(command: command, isReply: command == .configure, key: 12, slice: 1, sliceCount: 3,
                              sender: 2, round: 40, requestID: 7)
        switch command {
        case .initialize, .push, .pushPull, .pull, .fetchState, .restoreState:
            let values: [Float] = [1.5, -2, 0, .pi]
            return values.withUnsafeBufferPointer { Message(header: h, floats: $0) }
        default:
            return Message(header: h, text: "{\"hello\":1}")
        }
    }

    @Test("header layout: every field at its documented offset, 40 bytes, little-endian")
    func headerOffsets() {
        var h = MessageHeader(command: .push, isReply: true, isError: true, key: 0x0102_0304, slice: 0x0506, sliceCount: 0x0708,
                              sender: -2, round: 0x1122_3344_5566_7788, requestID: 0x3132_3334)
        h.payloadLength = 0xAABB_CCDD
        h.checksum = 0x0F0E_0D0C
        let b = h.bytes
        #expect(MessageHeader.byteCount == 40 && b.count == 40)
        #expect(Array(b[0..<4]) == [0x53, 0x53, 0x44, 0x50])  // "SSDP"
        #expect(Array(b[4..<6]) == [3, 0])
        #expect(b[6] == Command.push.rawValue && b[7] == 3)  // reply | error
        #expect(Array(b[8..<12]) == [4, 3, 2, 1])
        #expect(Array(b[12..<14]) == [6, 5] && Array(b[14..<16]) == [8, 7])
        #expect(Array(b[16..<20]) == [0xFE, 0xFF, 0xFF, 0xFF])
        #expect(Array(b[20..<28]) == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        #expect(Array(b[28..<32]) == [0xDD, 0xCC, 0xBB, 0xAA])
        #expect(Array(b[32..<36]) == [0x34, 0x33, 0x32, 0x31])
        #expect(Array(b[36..<40]) == [0x0C, 0x0D, 0x0E, 0x0F])
        #expect(MessageHeader.checksummedByteCount == 36)
    }

    @Test("every command round-trips", arguments: Command.allCases)
    func roundTrip(_ command: Command) throws {
        let m = sample(command)
        let decoded = try codec.decode(frames: codec.encode(m))
        #expect(decoded.header.command == command)
        #expect(decoded.header.key == 12 && decoded.header.slice == 1 && decoded.header.sliceCount == 3)
        #expect(decoded.header.sender == 2 && decoded.header.round == 40 && decoded.header.requestID == 7)
        #expect(decoded.header.isReply == (command == .configure))
        #expect(decoded.payload == m.payload)
        #expect(decoded.header.payloadLength == UInt32(m.payload.count))
    }

    @Test("float payloads are bit-exact")
    func floatsBitExact() throws {
        let values: [Float] = [.nan, .infinity, -0.0, .leastNonzeroMagnitude, 1e30, 123.456]
        let m = values.withUnsafeBufferPointer { Message(header: MessageHeader(command: .push), floats: $0) }
        let back = try codec.decode(frames: codec.encode(m)).floats()
        #expect(back.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test("every truncation of a valid message is rejected, never accepted or crashed")
    func truncations() throws {
        let frames = codec.encode(sample(.push))
        for n in 0..<frames[0].count {
            #expect(throws: WireError.truncatedHeader(bytes: n, needed: 40)) {
                _ = try codec.decode(frames: [Array(frames[0][0..<n]), frames[1]])
            }
        }
        for n in 0..<frames[1].count {
            #expect(throws: WireError.payloadLengthMismatch(declared: frames[1].count, actual: n)) {
                _ = try codec.decode(frames: [frames[0], Array(frames[1][0..<n])])
            }
        }
        #expect(throws: WireError.wrongFrameCount(1)) { _ = try codec.decode(frames: [frames[0]]) }
        #expect(throws: WireError.wrongFrameCount(3)) { _ = try codec.decode(frames: frames + [[]]) }
    }

    @Test("wrong magic, version, command, checksum and size each give their specific error")
    func malformed() throws {
        let frames = codec.encode(sample(.push))
        var bad = frames[0]; bad[0] = 0x00
        #expect(throws: WireError.badMagic(found: 0x5044_5300)) { _ = try codec.decode(frames: [bad, frames[1]]) }
        bad = frames[0]; bad[4] = 9
        #expect(throws: WireError.unsupportedVersion(found: 9, supported: 3)) { _ = try codec.decode(frames: [bad, frames[1]]) }
        bad = frames[0]; bad[6] = 200
        #expect(throws: WireError.unknownCommand(200)) { _ = try codec.decode(frames: [bad, frames[1]]) }
        bad = frames[0]; bad[6] = 11  // `acknowledge` of version 1, retired
        #expect(throws: WireError.unknownCommand(11)) { _ = try codec.decode(frames: [bad, frames[1]]) }
        var payload = frames[1]; payload[5] ^= 0x40
        #expect {
            _ = try codec.decode(frames: [frames[0], payload])
        } throws: { error in
            if case .checksumMismatch = error as? WireError { return true }
            return false
        }
        // A field changed in the header (the key) breaks the checksum too.
        bad = frames[0]; bad[8] ^= 1
        #expect(throws: WireError.self) { _ = try codec.decode(frames: [bad, frames[1]]) }
        // A push whose payload is not whole floats.
        let odd = Message(header: MessageHeader(command: .push), payload: [1, 2, 3])
        #expect(throws: WireError.payloadNotFloats(bytes: 3)) { _ = try codec.decode(frames: codec.encode(odd)) }
        let small = WireCodec(maxPayloadBytes: 8)
        #expect(throws: WireError.payloadTooLarge(bytes: 16, limit: 8)) { _ = try small.decode(frames: frames) }
    }

    @Test("random corruption of valid frames never crashes and is almost always caught")
    func fuzz() {
        var rng = SeededGenerator(seed: 99)
        let frames = codec.encode(sample(.pushPull))
        var accepted = 0
        for _ in 0..<3000 {
            var h = frames[0], p = frames[1]
            let flips = Int(rng.next() % 3) + 1
            for _ in 0..<flips {
                if rng.next() % 2 == 0 { h[Int(rng.next() % UInt64(h.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
                else { p[Int(rng.next() % UInt64(p.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            }
            if (try? codec.decode(frames: [h, p])) != nil { accepted += 1 }
        }
        // Every header byte but the checksum itself is covered: a flip passes only by a 2^-32 collision.
        #expect(accepted == 0)
    }

    @Test("log line names command, key, slice, sender, round and size")
    func description() {
        let m = sample(.push)
        #expect(m.description == "push key=12 slice=1/3 from W[2] round=40 req=7 bytes=16")
        let reply = Message(header: m.header.reply(sender: MessageHeader.serverSender(rank: 1), isError: true), text: "no")
        #expect(reply.description == "push reply error key=12 slice=1/3 from S[1] round=40 req=7 bytes=2 \"no\"")
    }
}
