import Detection
import DetectionData
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import Serving
import Testing

/// The server on 127.0.0.1 (an ephemeral port) with a small model, spoken to by a real HTTP
/// client: Foundation's URLSession (libcurl on Linux; part of the toolchain, so no package to
/// build — AsyncHTTPClient would add swift-nio-ssl and minutes of build for the same checks).
@Suite("ssd serve: SageMaker's hosting contract over HTTP", .serialized)
struct InferenceServerTests {
    /// A running server; `stop()` cancels it.
    struct Running {
        var server: InferenceServer
        var task: Task<Void, any Error>
        var base: URL
        var directory: String
        func stop() async {
            await server.shutdown()
            _ = await task.result
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    /// Opens when a test lets the model loader finish.
    final class Gate: @unchecked Sendable {
        let semaphore = DispatchSemaphore(value: 0)
    }

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 60
        return URLSession(configuration: configuration)
    }()

    /// Writes a tiny model directory and starts the server on it.
    func start(maxBodyBytes: Int = 1 << 20, maxBatch: Int = 4, gate: Gate? = nil) async throws -> Running {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("serve-\(UUID().uuidString)").path
        let model = try SSDModel(config: .tiny(numClasses: 3), seed: 3)
        try ModelArtifacts(model: model, detection: MultiBoxDetection(), classNames: ["circle", "square", "triangle"],
                           hyperparameters: ["num_classes": "3"]).write(to: directory)
        var options = ServerOptions()
        options.host = "127.0.0.1"
        options.port = 0
        options.modelDirectory = directory
        options.maxBodyBytes = maxBodyBytes
        options.maxBatch = maxBatch
        options.maxWait = .milliseconds(2)
        let server = InferenceServer(options: options, logger: Logger(label: "test")) {
            _ = gate?.semaphore.wait(timeout: .now() + 30)
            return try Predictor(modelDirectory: directory)
        }
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let task = Task { try await server.run(handleSignals: false) { continuation.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        return Running(server: server, task: task, base: URL(string: "http://127.0.0.1:\(port)")!, directory: directory)
    }

    /// Runs `body` against a fresh server and always stops it.
    func withServer(maxBodyBytes: Int = 1 << 20, maxBatch: Int = 4, gate: Gate? = nil,
                    _ body: (Running) async throws -> Void) async throws {
        let s = try await start(maxBodyBytes: maxBodyBytes, maxBatch: maxBatch, gate: gate)
        do { try await body(s) } catch {
            await s.stop()
            throw error
        }
        await s.stop()
    }

    /// Polls GET /ping until 200 (at most 30 s).
    func waitUntilReady(_ s: Running) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if try await get(s, "ping").status == 200 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the model did not load within 30 s")
    }

    func get(_ s: Running, _ path: String) async throws -> (status: Int, body: Data) {
        let (data, response) = try await Self.session.data(from: s.base.appendingPathComponent(path))
        return ((response as! HTTPURLResponse).statusCode, data)
    }

    func invoke(_ s: Running, _ body: Data, contentType: String?, accept: String? = nil,
                headers: [String: String] = [:]) async throws -> (status: Int, body: Data, contentType: String?) {
        var request = URLRequest(url: s.base.appendingPathComponent("invocations"))
        request.httpMethod = "POST"
        request.httpBody = body
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let accept { request.setValue(accept, forHTTPHeaderField: "Accept") }
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        let (data, response) = try await Self.session.data(for: request)
        let http = response as! HTTPURLResponse
        return (http.statusCode, data, http.value(forHTTPHeaderField: "Content-Type"))
    }

    /// A 96×80 test picture with two coloured rectangles, as JPEG or PNG.
    static func picture(png: Bool = false) throws -> (image: RGBImage, bytes: Data) {
        var image = RGBImage(width: 96, height: 80, fill: (40, 90, 160))
        for y in 10..<50 { for x in 8..<60 { image[x, y] = (230, 200, 30) } }
        for y in 40..<75 { for x in 50..<90 { image[x, y] = (200, 30, 40) } }
        let bytes = png ? try ImageCodec.encodePNG(image) : try ImageCodec.encodeJPEG(image)
        return (try ImageCodec.decode(bytes, source: "picture"), Data(bytes))
    }

    @Test("/ping is 503 while the model loads and 200 after; /invocations answers SageMaker's JSON with the model's detections")
    func pingAndInvoke() async throws {
        let gate = Gate()
        try await withServer(gate: gate) { s in
            let before = try await get(s, "ping")
            #expect(before.status == 503)
            #expect(String(decoding: before.body, as: UTF8.self).contains("loading"))
            gate.semaphore.signal()
            try await waitUntilReady(s)

            let (image, jpeg) = try Self.picture()
            let r = try await invoke(s, jpeg, contentType: "image/jpeg")
            #expect(r.status == 200 && r.contentType == "application/json")
            let json = try #require(try JSONSerialization.jsonObject(with: r.body) as? [String: Any])
            #expect(json.keys.sorted() == ["prediction"])
            let rows = try #require(json["prediction"] as? [[Double]])
            let expected = try Predictor(modelDirectory: s.directory).detect([image])[0]
            #expect(rows.count == expected.count && !rows.isEmpty)
            for (row, d) in zip(rows, expected) {
                // Compared as Float32, the values the model computed (Foundation's JSON parser on
                // Linux may miss the last digit of a double).
                #expect(row.map(Float.init) == [Float(d.classId), d.score] + d.box)
            }
            // The same image as PNG and as application/x-image gives the same answer.
            let (_, png) = try Self.picture(png: true)
            let viaPNG = try await invoke(s, png, contentType: "image/png")
            let viaX = try await invoke(s, jpeg, contentType: "application/x-image; charset=binary")
            #expect(viaPNG.status == 200 && viaX.status == 200 && viaX.body == r.body)
            // Labels on request, through SageMaker's custom attributes.
            let labelled = try await invoke(s, jpeg, contentType: "image/jpeg", headers: ["X-Amzn-SageMaker-Custom-Attributes": "labels=true"])
            let labels = try #require((try JSONSerialization.jsonObject(with: labelled.body) as? [String: Any])?["labels"] as? [String])
            #expect(labels.count == rows.count && labels.allSatisfy { ["circle", "square", "triangle"].contains($0) })
        }
    }

    @Test("Accept: image/png answers the image with the boxes drawn, at its own size")
    func pngAnswer() async throws {
        try await withServer { s in
            try await waitUntilReady(s)
            let (image, jpeg) = try Self.picture()
            let r = try await invoke(s, jpeg, contentType: "image/jpeg", accept: "image/png")
            #expect(r.status == 200 && r.contentType == "image/png")
            let drawn = try ImageCodec.decode([UInt8](r.body), source: "answer")
            #expect(drawn.width == image.width && drawn.height == image.height)
            let none = try await invoke(s, jpeg, contentType: "image/jpeg", accept: "text/html")
            #expect(none.status == 406)
        }
    }

    @Test("bad requests get a 4xx with a JSON error naming the problem, and the server keeps serving", arguments: [
        ("text/plain", Data("hello".utf8), 415, "Content-Type"),
        ("application/json", Data([0xff, 0xd8, 0xff]), 415, "unsupported Content-Type 'application/json'"),
        ("image/jpeg", Data("definitely not an image".utf8), 400, "not a JPEG or PNG"),
        ("image/jpeg", Data([0xff, 0xd8, 0xff, 0xe0, 0, 16, 1, 2, 3, 4]), 400, "cannot be decoded"),
        ("image/png", Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]), 400, "cannot be decoded"),
        ("image/jpeg", Data(), 400, "empty"),
        ("image/jpeg", Data(repeating: 0xff, count: 5000), 413, "larger than the limit of 4096 bytes"),
    ])
    func badInput(contentType: String, body: Data, status: Int, message: String) async throws {
        try await withServer(maxBodyBytes: 4096) { s in
            try await waitUntilReady(s)
            let r = try await invoke(s, body, contentType: contentType.isEmpty ? nil : contentType)
            #expect(r.status == status)
            #expect(r.contentType == "application/json")
            let error = (try JSONSerialization.jsonObject(with: r.body) as? [String: Any])?["error"] as? String
            #expect(error?.contains(message) == true, "\(error ?? String(decoding: r.body, as: UTF8.self))")
            // Still serving.
            let (_, jpeg) = try Self.picture()
            #expect(try await invoke(s, jpeg, contentType: "image/jpeg").status == 200)
        }
    }

    @Test("a streamed (chunked) body over the limit, with no Content-Length, is cut off with 413")
    func chunkedTooLarge() async throws {
        try await withServer(maxBodyBytes: 4096) { s in
            try await waitUntilReady(s)
            var request = URLRequest(url: s.base.appendingPathComponent("invocations"))
            request.httpMethod = "POST"
            request.setValue("image/jpeg", forHTTPHeaderField: "Content-Type")
            request.httpBodyStream = InputStream(data: Data(repeating: 0xff, count: 100_000))
            let (data, response) = try await Self.session.data(for: request)
            #expect((response as! HTTPURLResponse).statusCode == 413)
            #expect(String(decoding: data, as: UTF8.self).contains("larger than the limit of 4096 bytes"))
        }
    }

    @Test("concurrent clients share forward passes; /metrics counts requests, errors, latency and batch sizes")
    func batchingAndMetrics() async throws {
        try await withServer(maxBatch: 4) { s in
            try await waitUntilReady(s)
            let (_, jpeg) = try Self.picture()
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<12 { group.addTask { try await self.invoke(s, jpeg, contentType: "image/jpeg").status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 12))
            _ = try await invoke(s, Data("x".utf8), contentType: "text/plain")
            let metrics = String(decoding: try await get(s, "metrics").body, as: UTF8.self)
            #expect(metrics.contains(#"ssd_requests_total{path="/invocations",status="200"} 12"#))
            #expect(metrics.contains(#"ssd_request_errors_total{reason="content_type"} 1"#))
            #expect(metrics.contains("ssd_request_duration_seconds_count 13"))
            #expect(metrics.contains("ssd_model_loaded 1"))
            // Every image went through a forward pass, in batches of at most 4.
            let batchSum = metrics.split(separator: "\n").first { $0.hasPrefix("ssd_batch_size_sum ") }
            let batches = metrics.split(separator: "\n").first { $0.hasPrefix("ssd_batch_size_count ") }
            #expect(batchSum.flatMap { Double($0.split(separator: " ")[1]) } == 12)
            let count = try #require(batches.flatMap { Int($0.split(separator: " ")[1]) })
            #expect((3...12).contains(count))
            #expect(metrics.contains(#"ssd_batch_size_bucket{le="4.0"} \#(count)"#))
        }
    }
}
