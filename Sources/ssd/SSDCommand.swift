import ArgumentParser
import Detection
import Foundation
import Launcher
import Training

/// `ssd`: the everyday tool of the SSD trainer (synthetic data, RecordIO packing; training,
/// evaluation and prediction subcommands are added beside these).
@main
struct SSDCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssd",
        abstract: "SSD object detection: data tools, training, evaluation, prediction.",
        discussion: """
            Exit status (the same for worker and param-server): 0 success, 1 runtime failure (a file that cannot be \
            read or written, a failed training process), 2 configuration error (invalid hyperparameters or cluster \
            environment, a model that does not fit), 3 training diverged (a non-finite loss or weights), 64 usage error (unknown option, malformed argument), 130 \
            interrupted; a child process stopped by signal N is reported as 128+N.
            """,
        subcommands: [Train.self, Synth.self, Im2Rec.self, Eval.self, Predict.self, Serve.self, Convert.self,
                      KVProbe.self, SageMakerTrain.self, Keys.self, Plan.self])

    /// Parses (a malformed command line exits 64 with the usage), runs the subcommand, and maps
    /// what it throws to the exit-status policy above — so no subcommand's runtime error is
    /// reported as a usage error.
    static func main() async {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as ExitCode {
            exit(withError: error)
        } catch let error as CleanExit {
            exit(withError: error)
        } catch let error where !(error is ValidationError) && String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            exit(withError: error)  // `ssd help …` and other requests the parser answers itself
        } catch {
            let name = type(of: command)._commandName
            FileHandle.standardError.write(Data("ssd \(name): \(error)\n".utf8))
            Foundation.exit(ExitStatus.forRuntime(error))
        }
    }
}

/// The exit statuses of `ssd`, `worker` and `param-server` (README, "Exit status").
enum ExitStatus {
    static let success: Int32 = 0
    static let runtimeFailure: Int32 = 1
    static let configurationError: Int32 = 2
    static let usageError: Int32 = 64
    static let interrupted: Int32 = 130

    /// A configuration problem (fix the hyperparameters, environment or model) or a runtime failure.
    static func forRuntime(_ error: Error) -> Int32 {
        switch error {
        case is HyperparameterProblems, is ModelError: configurationError
        case let artifacts as ModelArtifacts.Error:
            // No model (or an incomplete one) where the command was pointed is a configuration
            // problem; a model directory that cannot be read is a runtime failure.
            if case .unreadable = artifacts { runtimeFailure } else { configurationError }
        case let launcher as LauncherError:
            if case .cannotStart = launcher { runtimeFailure } else { configurationError }
        case let plan as PlanError:
            // No (or no usable) calibration for what was asked is a configuration problem; a
            // calibration whose measurement failed is a runtime failure.
            if case .measurementFailed = plan { runtimeFailure } else { configurationError }
        default: runtimeFailure
        }
    }
}
