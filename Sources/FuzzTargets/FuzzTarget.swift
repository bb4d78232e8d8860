// Fuzz entry points: one per decoder of bytes this project takes from disk or the network.
// Each `run` must return for every input — a decoder may throw its typed error, never trap;
// a trap (or an AddressSanitizer report) is the finding. libFuzzer (`make fuzz`) and the
// seeded mutation loop (`MutationLoop`, the CI smoke test) call the same `run`.
import Detection
import DetectionData
import Foundation
import ParameterServer
import Training

/// A decoder under fuzzing.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The parameter-server wire decoder (`WireCodec.decode(frames:)`) and the payload readers.
    case wire
    /// The RecordIO reader, image-record header and detection-label parser.
    case recordio
    /// MXNet's `.params` reader (`MXNetParams.decode`).
    case params
    /// SageMaker's JSON annotation reader and its box conversion.
    case annotation
    /// `hyperparameters.json` and hyperparameter flags, through validation.
    case hyperparameters

    /// Runs the decoder on `data`.
    public func run(_ data: [UInt8]) {
        switch self {
        case .wire: Self.wire(data)
        case .recordio: Self.recordIO(data)
        case .params: Self.params(data)
        case .annotation: Self.annotation(data)
        case .hyperparameters: Self.hyperparameters(data)
        }
    }

    /// Byte strings that mutations splice in: each format's magic words and tokens.
    public var dictionary: [[UInt8]] {
        switch self {
        case .wire:
            return [[0x53, 0x53, 0x44, 0x50], [1, 0], Array(#"{"role":"worker","requestedRank":1}"#.utf8)]
        case .recordio:
            return [[0x0a, 0x23, 0xd7, 0xce], [0, 0, 0, 0x20], [0, 0, 0, 0x40], [0, 0, 0, 0x60], [0, 0, 0x40, 0x40], [0, 0, 0xa0, 0x40]]
        case .params:
            return [[0x12, 1, 0, 0, 0, 0, 0, 0], [0xc9, 0xfa, 0x93, 0xf9], [0xca, 0xfa, 0x93, 0xf9], Array("arg:".utf8), Array("aux:".utf8)]
        case .annotation:
            return ["\"file\"", "\"image_size\"", "\"annotations\"", "\"categories\"", "\"class_id\"", "\"left\"", "\"top\"",
                    "\"width\"", "\"height\"", "\"depth\"", "\"name\"", "1e308", "-0", "[]", "{}", "null"].map { Array($0.utf8) }
        case .hyperparameters:
            return (Hyperparameters.definitions.map { "\"\($0.name)\"" } + ["--num_classes", "1e3", "True", "99999999", "\"dist_sync\""])
                .map { Array($0.utf8) }
        }
    }

    // MARK: - Entry points

    /// Input: byte 0 = frame count (low 2 bits) and "fix the checksum" (bit 2); then each frame
    /// but the last as a 2-byte little-endian length + bytes; the last frame takes the rest.
    /// With the fix bit a decodable header gets its true length and checksum, so mutations
    /// reach the checks after the checksum and the payload readers.
    static func wire(_ data: [UInt8]) {
        guard let control = data.first else { return }
        var frames: [[UInt8]] = []
        var at = 1
        let frameCount = Int(control & 3)
        for i in 0..<frameCount {
            if i == frameCount - 1 { frames.append(Array(data[min(at, data.count)...])); break }
            guard at + 2 <= data.count else { break }
            let length = Int(data[at]) | Int(data[at + 1]) << 8
            at += 2
            let end = min(data.count, at + length)
            frames.append(Array(data[at..<end]))
            at = end
        }
        let codec = WireCodec(maxPayloadBytes: 1 << 16)
        if control & 4 != 0, frames.count == 2,
           let header = try? frames[0].withUnsafeBytes({ raw throws(WireError) in try MessageHeader(decoding: raw) }) {
            frames[0] = frames[1].withUnsafeBytes { codec.headerFrame(for: header, payload: $0) }
        }
        guard let message = try? codec.decode(frames: frames) else { return }
        _ = message.description
        _ = message.text
        _ = try? message.floats()
        _ = try? message.withFloats { $0.reduce(0, +) }
        _ = try? message.json(Registration.self)
        _ = try? message.json(Roster.self)
        _ = try? message.json(ServerSetup.self)
        // What decodes must encode and decode to the same message.
        guard (try? codec.decode(frames: codec.encode(message))) == message else {
            fatalError("wire: decode → encode → decode changed \(message)")
        }
    }

    /// Input: a `.rec` file. Every record is read, its image-record header and detection label
    /// parsed; every payload read must come back unchanged through the writer and the reader.
    static func recordIO(_ data: [UInt8]) {
        let reader = RecordIOReader(bytes: data, name: "fuzz.rec")
        var offset = 0, index = 0
        while offset < data.count, index < 64 {
            guard let read = try? reader.record(at: offset) else { return }
            let (payload, next) = read
            guard next > offset else { fatalError("recordio: no progress at offset \(offset)") }
            offset = next
            if let encoded = try? RecordIOWriter.encode(payload: payload) {
                let back = try? RecordIOReader(bytes: encoded, name: "re-encoded").record(at: 0)
                guard back?.payload == payload, back?.next == encoded.count else {
                    fatalError("recordio: a payload of \(payload.count) bytes did not survive write → read")
                }
            }
            if let record = try? ImageRecord(payload: payload, source: "fuzz.rec", record: index), !record.labels.isEmpty,
               let objects = try? DetectionLabel.parse(record.labels, source: "fuzz.rec", record: "\(index)") {
                try? DetectionLabel.validate(objects, numClasses: 20, source: "fuzz.rec", record: "\(index)")
                _ = DetectionLabel.pack(objects)
            }
            index += 1
        }
    }

    /// Input: a `.params` file.
    static func params(_ data: [UInt8]) {
        guard let arrays = try? MXNetParams.decode(data, path: "fuzz.params") else { return }
        // ndim 0 is an empty array (NDArray V2); otherwise the values fill the shape.
        for a in arrays where a.values.count != (a.shape.isEmpty ? 0 : a.shape.reduce(1, *)) {
            fatalError("params: \(a.name) has \(a.values.count) values for shape \(a.shape)")
        }
    }

    /// Input: one annotation JSON file.
    static func annotation(_ data: [UInt8]) {
        guard let ann = try? JSONDecoder().decode(SageMakerAnnotation.self, from: Data(data)),
              let objects = try? ann.objects(source: "fuzz.json") else { return }
        try? DetectionLabel.validate(objects, numClasses: 1000, source: "fuzz.json", record: "0")
        _ = DetectionLabel.pack(objects)
    }

    /// Input: a `hyperparameters.json`, and the same bytes split at NUL as command-line
    /// arguments; both through parsing and validation.
    static func hyperparameters(_ data: [UInt8]) {
        let limits = HyperparameterLimits(memoryBytes: 16 << 30)
        if let values = try? Hyperparameters.decodeFile(Data(data), source: "fuzz.json") {
            _ = Hyperparameters.parse(values, clusterConfigured: data.count % 2 == 0, limits: limits)
        }
        let arguments = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let (flags, _) = Hyperparameters.extractFlags(arguments)
        _ = Hyperparameters.parse(flags, clusterConfigured: false, requireClusterForKVStore: false, limits: limits)
    }
}
