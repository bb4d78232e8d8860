import ArgumentParser

/// `ssd`: the everyday tool — synthetic data, RecordIO packing, and (as the training issue
/// lands) train, eval and predict.
@main
struct SSDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssd",
        abstract: "SSD object detection: data tools and training (SageMaker Object Detection compatible).",
        subcommands: [Synth.self, Im2Rec.self])
}
