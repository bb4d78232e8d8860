import Detection
import DetectionData
import Foundation
import Hummingbird
import Logging
import MetricsHTTP
import NIOCore

/// `ssd serve`: SageMaker's hosting contract on Hummingbird 2.
///
/// - `GET /ping`: 200 once the model is loaded, 503 while it loads (or if loading failed).
/// - `POST /invocations` with `image/jpeg`, `image/png` or `application/x-image`: the
///   detections as SageMaker's Object Detection returns them (`PredictionJSON`), or with
///   `Accept: image/png` the image with the boxes drawn and labelled. A `"labels"` list is
///   added when the SageMaker custom attributes header (`X-Amzn-SageMaker-Custom-Attributes`)
///   holds `labels=true`, or always with `ServerOptions.labels`.
/// - `GET /metrics`: Prometheus text (`ServerMetrics`).
///
/// Bad requests get a 4xx with `{"error": "…"}` naming what was wrong; the server keeps serving.
/// The listener starts at once and the model loads beside it, so `/ping` can answer 503.
public final class InferenceServer: Sendable {
    public let options: ServerOptions
    public let metrics: ServerMetrics
    private let state: ModelState
    private let loader: @Sendable () throws -> Predictor
    private let logger: Logger
    private let endpoint: HTTPEndpoint

    /// A server for the model `load` returns (by default `Predictor(modelDirectory:)` of `options.modelDirectory`).
    public init(options: ServerOptions, logger: Logger, load: (@Sendable () throws -> Predictor)? = nil) {
        self.options = options
        self.logger = logger
        self.metrics = ServerMetrics()
        self.state = ModelState()
        self.endpoint = HTTPEndpoint(host: options.host, port: options.port, serverName: "ssd-serve", logger: logger)
        let directory = options.modelDirectory
        self.loader = load ?? { try Predictor(modelDirectory: directory) }
    }

    /// Serves until `shutdown()` or, with `handleSignals`, SIGTERM/SIGINT (graceful: requests in
    /// flight are answered); `onListening` gets the bound port.
    public func run(handleSignals: Bool = true, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        let loading = Thread { [self] in self.loadModel() }
        loading.stackSize = 8 << 20
        loading.start()
        defer { state.stop() }
        try await endpoint.run(router: makeRouter(), handleSignals: handleSignals, onListening: onListening)
    }

    /// Stops a running server gracefully.
    public func shutdown() async {
        await endpoint.shutdown()
    }

    /// Loads the model and starts the batcher; a failure is logged and keeps `/ping` at 503.
    private func loadModel() {
        let start = ContinuousClock.now
        do {
            let predictor = try loader()
            let font = try LabelFont()
            let metrics = self.metrics
            let batcher = DynamicBatcher<RGBImage, [MultiBoxDetection.Detection]>(
                maxBatch: options.maxBatch, maxWait: options.maxWait,
                onBatch: { size, seconds in metrics.batch(size: size, seconds: seconds) },
                body: { images in try predictor.detect(images) })
            state.ready(Loaded(predictor: predictor, batcher: batcher, font: font))
            metrics.modelLoaded()
            let config = predictor.artifacts.model.config
            let summary = "\(config.base.rawValue) \(config.imageShape)×\(config.imageShape), \(config.numClasses) classes; "
                + "batches of up to \(options.maxBatch), waiting at most \(options.maxWait)"
            logger.info("model loaded in \(ContinuousClock.now - start): \(summary)")
        } catch {
            state.failed("\(error)")
            logger.error("cannot load the model: \(error)")
        }
    }

    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("ping") { _, _ -> Response in
            let response: Response
            switch self.state.current {
            case .ready: response = Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{\"status\": \"ok\"}")))
            case .loading: response = Self.error(.serviceUnavailable, "the model is still loading")
            case let .failed(reason): response = Self.error(.serviceUnavailable, "the model could not be loaded: \(reason)")
            }
            self.metrics.request(path: "/ping", status: response.status.code, seconds: nil)
            return response
        }
        router.post("invocations") { request, _ -> Response in
            let start = ContinuousClock.now
            let response: Response
            do {
                response = try await self.invoke(request)
            } catch let failure as RequestFailure {
                response = Self.error(failure.status, failure.message)
                self.metrics.error(reason: failure.reason)
            } catch {
                response = Self.error(.internalServerError, "\(error)")
                self.metrics.error(reason: "internal")
                self.logger.error("invocation failed: \(error)")
            }
            let took = ContinuousClock.now - start
            self.metrics.request(path: "/invocations", status: response.status.code,
                                 seconds: Double(took.components.seconds) + Double(took.components.attoseconds) * 1e-18)
            return response
        }
        router.addMetrics(metrics.registry)
        return router
    }

    /// One invocation: validate, decode, detect (batched), answer in the accepted format.
    func invoke(_ request: Request) async throws -> Response {
        guard case let .ready(loaded) = state.current else {
            throw RequestFailure(.serviceUnavailable, "model", "the model is not loaded yet; poll GET /ping until it answers 200")
        }
        let contentType = request.headers[.contentType].map(Self.mediaType) ?? ""
        guard ["image/jpeg", "image/png", "application/x-image"].contains(contentType) else {
            throw RequestFailure(.unsupportedMediaType, "content_type",
                                 (contentType.isEmpty ? "no Content-Type" : "unsupported Content-Type '\(contentType)'")
                                 + "; send the image bytes as image/jpeg, image/png or application/x-image")
        }
        let wantsPNG = try Self.acceptsPNG(request.headers[.accept])
        if let length = request.headers[.contentLength].flatMap(Int.init), length > options.maxBodyBytes {
            throw Self.tooLarge(length, limit: options.maxBodyBytes)
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: options.maxBodyBytes) } catch is NIOTooManyBytesError {
            throw Self.tooLarge(nil, limit: options.maxBodyBytes)
        }
        let bytes = Array(body.readableBytesView)
        guard !bytes.isEmpty else { throw RequestFailure(.badRequest, "empty", "the request body is empty; send the image bytes") }
        guard ImageCodec.format(of: bytes) != nil else {
            let head = bytes.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw RequestFailure(.badRequest, "not_an_image", "the body is not a JPEG or PNG image (it starts with \(head))")
        }
        let image: RGBImage
        do { image = try ImageCodec.decode(bytes, source: "request body") } catch {
            throw RequestFailure(.badRequest, "corrupt_image", "the image cannot be decoded: \(error)")
        }
        let detections = try await loaded.batcher.submit(image)
        if wantsPNG {
            let drawn = loaded.predictor.annotated(image, detections: detections, threshold: options.drawThreshold, font: loaded.font)
            return Response(status: .ok, headers: [.contentType: "image/png"],
                            body: .init(byteBuffer: ByteBuffer(bytes: try ImageCodec.encodePNG(drawn))))
        }
        // SageMaker passes InvokeEndpoint's CustomAttributes through in this header.
        let custom = request.headers.first { $0.name.canonicalName == "x-amzn-sagemaker-custom-attributes" }?.value ?? ""
        let labels = options.labels
            || custom.lowercased().split(separator: ",").contains { $0.trimmingCharacters(in: CharacterSet.whitespaces) == "labels=true" }
        let json = PredictionJSON.encode(detections, labels: labels ? detections.map { loaded.predictor.className($0.classId) } : nil)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    /// "Image/JPEG; charset=x" → "image/jpeg".
    static func mediaType(_ header: String) -> String {
        header.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }

    /// Whether the client asked for a PNG; throws 406 when it accepts neither JSON nor PNG.
    static func acceptsPNG(_ header: String?) throws -> Bool {
        guard let header, !header.isEmpty else { return false }
        let types = header.split(separator: ",").map { mediaType(String($0)) }
        if types.contains(where: { ["application/json", "application/*", "*/*"].contains($0) }) { return false }
        if types.contains(where: { ["image/png", "image/*"].contains($0) }) { return true }
        throw RequestFailure(.notAcceptable, "accept", "cannot answer with '\(header)'; accept application/json (detections) or image/png (the image with boxes)")
    }

    static func tooLarge(_ length: Int?, limit: Int) -> RequestFailure {
        RequestFailure(.contentTooLarge, "too_large",
                       "the body\(length.map { " (\($0) bytes)" } ?? "") is larger than the limit of \(limit) bytes (ssd serve --max-body-bytes)")
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: "{\"error\": \(PredictionJSON.quoted(message))}")))
    }
}

/// A request that gets a 4xx (or 503) answer; `reason` labels the error counter.
struct RequestFailure: Error {
    var status: HTTPResponse.Status
    var reason: String
    var message: String
    init(_ status: HTTPResponse.Status, _ reason: String, _ message: String) { self.status = status; self.reason = reason; self.message = message }
}

/// What the server needs once the model is there.
struct Loaded: Sendable {
    var predictor: Predictor
    var batcher: DynamicBatcher<RGBImage, [MultiBoxDetection.Detection]>
    var font: LabelFont
}

/// Loading → ready or failed, read by every request.
final class ModelState: @unchecked Sendable {
    enum Phase { case loading, ready(Loaded), failed(String) }
    private let lock = NSLock()
    private var phase = Phase.loading

    var current: Phase { lock.lock(); defer { lock.unlock() }; return phase }
    func ready(_ loaded: Loaded) { lock.lock(); phase = .ready(loaded); lock.unlock() }
    func failed(_ reason: String) { lock.lock(); phase = .failed(reason); lock.unlock() }
    /// Stops the batcher thread (at shutdown).
    func stop() { if case let .ready(loaded) = current { loaded.batcher.stop() } }
}
