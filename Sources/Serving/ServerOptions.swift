/// How `ssd serve` listens, batches and limits requests.
public struct ServerOptions: Sendable {
    /// Listen address (SageMaker: all interfaces).
    public var host = "0.0.0.0"
    /// Listen port (SageMaker: 8080; 0 = any free port).
    public var port = 8080
    /// The model directory (SageMaker's `/opt/ml/model`).
    public var modelDirectory = "/opt/ml/model"
    /// Most images in one forward pass.
    public var maxBatch = 8
    /// Longest a request waits for others to share its forward pass.
    public var maxWait: Duration = .milliseconds(5)
    /// Largest request body accepted (413 beyond); SageMaker's own invocation limit is 6 MB.
    public var maxBodyBytes = 8 << 20
    /// Boxes scoring at least this are drawn in the PNG answer.
    public var drawThreshold: Float = 0.3
    /// Always add the "labels" list to the JSON answer.
    public var labels = false

    public init() {}
}
