import ClusterMetrics
import Testing

@Suite("Metrics port settings from flags and environment")
struct MetricsPortSettingsTests {
    @Test("no flag and no SSD_METRICS_PORT: no metrics port")
    func off() throws {
        #expect(try MetricsPortSettings.resolve(port: nil, host: "127.0.0.1", linger: 5, environment: ["SSD_METRICS_HOST": "x"]) == nil)
    }

    @Test("the environment configures it; flags win over it")
    func environmentAndFlags() throws {
        let env = ["SSD_METRICS_PORT": "9464", "SSD_METRICS_HOST": "127.0.0.1", "SSD_METRICS_LINGER": "30"]
        #expect(try MetricsPortSettings.resolve(port: nil, host: nil, linger: nil, environment: env)
                == MetricsPortSettings(host: "127.0.0.1", port: 9464, linger: 30))
        #expect(try MetricsPortSettings.resolve(port: 0, host: "0.0.0.0", linger: 0, environment: env)
                == MetricsPortSettings(host: "0.0.0.0", port: 0, linger: 0))
        #expect(try MetricsPortSettings.resolve(port: 8000, host: nil, linger: nil, environment: [:])
                == MetricsPortSettings(host: "0.0.0.0", port: 8000, linger: 0))
    }

    @Test("invalid values name their source, the value and what is expected", arguments: [
        (nil, ["SSD_METRICS_PORT": "http"], "SSD_METRICS_PORT http: expected a port 1–65535, or 0 for any free port"),
        (70000, [:], "--metrics-port 70000: expected a port 1–65535, or 0 for any free port"),
        (nil, ["SSD_METRICS_PORT": "9464", "SSD_METRICS_LINGER": "-1"], "SSD_METRICS_LINGER -1: expected seconds from 0 to 86400"),
        (nil, ["SSD_METRICS_PORT": "9464", "SSD_METRICS_HOST": ""], "--metrics-host / SSD_METRICS_HOST : expected an address such as 0.0.0.0 or 127.0.0.1"),
    ] as [(Int?, [String: String], String)])
    func invalid(port: Int?, environment: [String: String], message: String) {
        #expect(throws: MetricsPortSettingsError.self) { try MetricsPortSettings.resolve(port: port, host: nil, linger: nil, environment: environment) }
        do {
            _ = try MetricsPortSettings.resolve(port: port, host: nil, linger: nil, environment: environment)
        } catch {
            #expect("\(error)" == message)
        }
    }
}
