import ArgumentParser

/// `ssd`: the everyday tool of the SSD trainer (synthetic data, RecordIO packing; training,
/// evaluation and prediction subcommands are added beside these).
@main
struct SSDCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssd",
        abstract: "SSD object detection: data tools, training, evaluation, prediction.",
        subcommands: [Train.self, Synth.self, Im2Rec.self, Eval.self, Predict.self, Keys.self])
}
