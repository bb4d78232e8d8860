import ArgumentParser
import Foundation
import Logging
import Serving
import Tensor

/// `ssd serve`: SageMaker's hosting contract (`GET /ping`, `POST /invocations`) and `GET /metrics`.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over HTTP as a SageMaker endpoint: GET /ping, POST /invocations, GET /metrics.",
        discussion: """
            POST /invocations takes the image bytes (Content-Type image/jpeg, image/png or application/x-image) and \
            answers {"prediction": [[class, score, xmin, ymin, xmax, ymax], …]}, or with Accept: image/png the image \
            with labelled boxes. Concurrent requests are batched into one forward pass. Stops on SIGTERM or SIGINT.
            """)

    @Option(help: "Model directory (model_algo_1-symbol.json, model_algo_1-0000.params, hyperparams.json).")
    var modelDir = "/opt/ml/model"
    @Option(help: "Listen address.") var host = "0.0.0.0"
    @Option(help: "Listen port (default: SAGEMAKER_BIND_TO_PORT, else 8080).") var port: Int?
    @Option(help: "Most images per forward pass.") var maxBatch = 8
    @Option(help: "Longest a request waits for others to share its forward pass, in milliseconds.") var maxWaitMs = 5
    @Option(help: "Largest request body in bytes (larger: 413).") var maxBodyBytes = 8 << 20
    @Option(help: "Boxes scoring at least this are drawn in image/png answers.") var drawThreshold: Float = 0.3
    @Flag(help: "Always add a \"labels\" list (class names) to the JSON answer.") var labels = false

    func validate() throws {
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1") }
        guard maxWaitMs >= 0 else { throw ValidationError("--max-wait-ms must not be negative") }
        guard maxBodyBytes >= 1 else { throw ValidationError("--max-body-bytes must be positive") }
    }

    func run() async throws {
        // Forward passes may hold a single image: threads as for batch 1 (ComputeThreads).
        let threading = ForwardCompute.start(batch: 1), directory = modelDir
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var options = ServerOptions()
        options.modelDirectory = modelDir
        options.host = host
        options.port = port ?? ProcessInfo.processInfo.environment["SAGEMAKER_BIND_TO_PORT"].flatMap(Int.init) ?? 8080
        options.maxBatch = maxBatch
        options.maxWait = .milliseconds(maxWaitMs)
        options.maxBodyBytes = maxBodyBytes
        options.drawThreshold = drawThreshold
        options.labels = labels
        let logger = Logger(label: "ssd-serve")
        let server = InferenceServer(options: options, logger: logger, load: {
            let predictor = try Predictor(modelDirectory: directory)
            predictor.artifacts.model.threading = threading
            return predictor
        })
        let host = options.host
        try await server.run { port in logger.info("listening on \(host):\(port)") }
    }
}
