import Detection
import DetectionData
import Foundation
import ParameterServer

extension FuzzTarget {
    /// Valid inputs made with the project's own encoders: what `ssd-fuzz --write-seeds` puts
    /// in `Fuzz/corpus/<target>/`, the starting points of every fuzzing run.
    public var generatedSeeds: [[UInt8]] {
        switch self {
        case .wire:
            let codec = WireCodec()
            func frames(_ m: Message) -> [UInt8] {
                let f = codec.encode(m)
                return [2, UInt8(f[0].count & 0xff), UInt8(f[0].count >> 8)] + f[0] + f[1]
            }
            let floats: [Float] = [1, -2.5, 0, .greatestFiniteMagnitude]
            return [
                frames(floats.withUnsafeBufferPointer { Message(header: MessageHeader(command: .push, key: 3, slice: 1, sliceCount: 2, sender: 1, round: 40), floats: $0) }),
                frames(Message(header: MessageHeader(command: .pull, key: 7, sender: 0, round: 2))),
                frames(Message(header: MessageHeader(command: .register), text: #"{"role":"worker","requestedRank":1}"#)),
                frames(Message(header: MessageHeader(command: .register, isReply: true),
                               text: #"{"rank":0,"servers":["127.0.0.1:9091"],"numWorkers":2}"#)),
                frames(Message(header: MessageHeader(command: .error, isReply: true, sender: 0), text: "unknown key 99")),
                frames(Message(header: MessageHeader(command: .heartbeat, sender: 2))),
            ]
        case .recordio:
            var rec: [UInt8] = []
            let png: [UInt8] = (try? ImageCodec.encodePNG(RGBImage(width: 3, height: 2, fill: (200, 30, 90)))) ?? []
            let records = [
                ImageRecord(id: 0, labels: [2, 5, 0, 0.125, 0.25, 0.5, 0.75], imageBytes: png),
                ImageRecord(id: 7, id2: 0xced7_230a, labels: [2, 6, 1, 0.1, 0.1, 0.4, 0.6, 0], imageBytes: [0x0a, 0x23, 0xd7, 0xce, 1, 2]),
                ImageRecord(id: 42, labels: [], scalarLabel: 3, imageBytes: Array("scalar".utf8)),
            ]
            for r in records { rec += (try? RecordIOWriter.encode(payload: r.encoded())) ?? [] }
            return [rec]
        case .params:
            return [
                MXNetParams.encode([MXNetParams.Array(name: "arg:conv1_1_weight", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]),
                                    MXNetParams.Array(name: "aux:bn_moving_var", shape: [4], values: [1, 1, 0.5, 2])]),
                MXNetParams.encode([]),
            ]
        case .annotation:
            return [Array(#"""
                {"file": "images/a.jpg", "image_size": [{"width": 500, "height": 400, "depth": 3}],
                 "annotations": [{"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128},
                                 {"class_id": 2, "left": 0.5, "top": 0, "width": 499.5, "height": 400}],
                 "categories": [{"class_id": 0, "name": "dog"}, {"class_id": 2, "name": "cat"}]}
                """#.utf8)]
        case .hyperparameters:
            return [
                Array(#"{"num_classes": "4", "num_training_samples": "100", "epochs": "3", "learning_rate": "0.01", "lr_scheduler_step": "1, 2", "kv_store": "dist_sync", "image_shape": "512"}"#.utf8),
                Array(#"{"num_classes": 4, "num_training_samples": 100, "use_pretrained_model": 0, "early_stopping": true, "momentum": 0.5}"#.utf8),
                Array("--num_classes\u{0}4\u{0}--num-training-samples=10\u{0}--mini_batch_size\u{0}8\u{0}--optimizer=adam\u{0}-v".utf8),
            ]
        }
    }

    /// The files of a corpus folder, sorted by name (none when the folder is missing).
    public static func loadCorpus(_ directory: String) -> [[UInt8]] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        return names.compactMap { FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent($0)).map { [UInt8]($0) } }
    }
}
