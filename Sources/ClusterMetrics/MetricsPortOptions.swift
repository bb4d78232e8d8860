import ArgumentParser

/// `--metrics-port`, `--metrics-host`, `--metrics-linger`: the same options on `param-server`
/// and `worker` (`@OptionGroup`); `MetricsPortSettings.resolve` merges them with the
/// `SSD_METRICS_*` environment variables.
public struct MetricsPortOptions: ParsableArguments {
    @Option(help: "Serve Prometheus metrics at GET /metrics on this port, 0 = any free port (SSD_METRICS_PORT).") var metricsPort: Int?
    @Option(help: "Address the metrics port listens on (SSD_METRICS_HOST; default 0.0.0.0).") var metricsHost: String?
    @Option(help: "Seconds to keep serving the final metrics after the job ended (SSD_METRICS_LINGER; default 0).") var metricsLinger: Double?

    public init() {}

    /// The settings these options and `environment` give; nil when no port is asked for.
    public func settings(environment: [String: String]) throws(MetricsPortSettingsError) -> MetricsPortSettings? {
        try MetricsPortSettings.resolve(port: metricsPort, host: metricsHost, linger: metricsLinger, environment: environment)
    }
}
