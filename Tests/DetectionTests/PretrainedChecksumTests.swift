import Foundation
import Testing
@testable import Detection

@Suite("Pretrained checksums")
struct PretrainedChecksumTests {
    static func hex(_ text: String) -> String {
        var h = SHA1()
        h.update(Array(text.utf8))
        return h.finalize()
    }

    @Test("SHA-1 gives FIPS 180's example digests, whatever the pieces the message arrives in")
    func knownDigests() {
        // FIPS 180-2 appendix A examples, and the empty message.
        #expect(Self.hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(Self.hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(Self.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        var million = SHA1()
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { million.update(a) }
        #expect(million.finalize() == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        // Padding edges: 55, 56, 63, 64 and 65 bytes, fed whole and in pieces of 1, 7 and 64.
        for n in [55, 56, 63, 64, 65, 119, 120] {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var whole = SHA1()
            whole.update(bytes)
            let expected = whole.finalize()
            for piece in [1, 7, 64] {
                var h = SHA1()
                for start in stride(from: 0, to: n, by: piece) { h.update(bytes[start..<min(n, start + piece)]) }
                #expect(h.finalize() == expected, "\(n) bytes in pieces of \(piece)")
            }
        }
    }

    @Test("a file's SHA-1 equals coreutils' sha1sum across 1 MiB read boundaries", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sha1sum"), "needs /usr/bin/sha1sum"))
    func fileDigestMatchesSha1sum() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sha1-\(UUID().uuidString).bin").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data((0..<((1 << 20) + 4099)).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }).write(to: URL(fileURLWithPath: path))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha1sum")
        p.arguments = [path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let expected = String(decoding: out, as: UTF8.self).split(separator: " ").first.map(String.init)
        #expect(try PretrainedChecksum.sha1(path: path) == expected)
    }

    @Test("published name with other bytes, or a .sha1 pin that differs, is an error naming both sums; unknown names load unchecked")
    func verifyRules() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pretrained-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = Data("not the GluonCV weights".utf8)
        let sum = Self.hex("not the GluonCV weights")

        let published = dir + "/vgg16_atrous-4fa2e1ad.params"
        try bytes.write(to: URL(fileURLWithPath: published))
        #expect(throws: PretrainedChecksumError.mismatch(path: published, expected: "4fa2e1ad96b8c8d1ba9e5a43556cd909d70b3985", found: sum,
                                                         source: "the sum published for vgg16_atrous-4fa2e1ad.params")) {
            try PretrainedChecksum.verify(path: published)
        }
        let message = "\(PretrainedChecksumError.mismatch(path: published, expected: "e", found: "f", source: "s"))"
        #expect(message.contains("SHA-1 f, expected e") && message.contains("download it again"))

        let pinned = dir + "/my-base.params"
        try bytes.write(to: URL(fileURLWithPath: pinned))
        try Data("\(sum)  my-base.params\n".utf8).write(to: URL(fileURLWithPath: pinned + ".sha1"))
        #expect(try PretrainedChecksum.verify(path: pinned) == .verified(sha1: sum, source: pinned + ".sha1"))
        try Data(String(repeating: "0", count: 40).utf8).write(to: URL(fileURLWithPath: pinned + ".sha1"))
        #expect(throws: PretrainedChecksumError.mismatch(path: pinned, expected: String(repeating: "0", count: 40), found: sum, source: pinned + ".sha1")) {
            try PretrainedChecksum.verify(path: pinned)
        }
        try Data("sha1 please".utf8).write(to: URL(fileURLWithPath: pinned + ".sha1"))
        #expect(throws: PretrainedChecksumError.badSidecar(path: pinned + ".sha1", text: "sha1 please")) { try PretrainedChecksum.verify(path: pinned) }

        let example = dir + "/vgg16_reduced-0001.params"
        try bytes.write(to: URL(fileURLWithPath: example))
        var warnings: [String] = []
        #expect(try PretrainedChecksum.verify(path: example, warn: { warnings.append($0) }) == .noPublishedSum(sha1: sum))
        #expect(warnings.count == 1 && warnings[0].contains(sum) && warnings[0].contains("echo \(sum) > \(example).sha1"))

        let checkpoint = dir + "/model_algo_1-0003.params"
        try bytes.write(to: URL(fileURLWithPath: checkpoint))
        #expect(try PretrainedChecksum.verify(path: checkpoint, warn: { warnings.append($0) }) == .notChecked && warnings.count == 1)
    }

    @Test("loadPretrained refuses a file whose pin does not match before reading it, and loads it once the pin is right")
    func loadChecksBeforeReading() throws {
        let model = try SSDModel(config: .tiny(numClasses: 2), seed: 1)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pretrained-load-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/base.params"
        try model.exportMXNet(to: path)
        try Data(String(repeating: "a", count: 40).utf8).write(to: URL(fileURLWithPath: path + ".sha1"))
        #expect(throws: PretrainedChecksumError.self) { try SSDModel(config: .tiny(numClasses: 2), seed: 2).loadPretrained(path: path) }
        try Data(try PretrainedChecksum.sha1(path: path).utf8).write(to: URL(fileURLWithPath: path + ".sha1"))
        #expect(try SSDModel(config: .tiny(numClasses: 2), seed: 2).loadPretrained(path: path).count == model.parameters.specs.count)
    }
}
