import Hummingbird
import NIOCore
import Prometheus

extension Router {
    /// `GET /<path>`: every metric of `registry` in Prometheus's text exposition format (0.0.4).
    @discardableResult
    public func addMetrics(_ registry: PrometheusCollectorRegistry, path: RouterPath = "metrics") -> Self {
        get(path) { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        return self
    }
}
