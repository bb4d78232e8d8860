import Foundation

/// Where a `param-server` or `worker` serves its metrics, from its flags or — for processes a
/// launcher starts with the same command line for every role (MXNet's `DMLC_ROLE` convention,
/// Kubernetes, Slurm) — its environment; a flag wins over its variable:
///
/// | flag | variable | meaning |
/// | --- | --- | --- |
/// | `--metrics-port` | `SSD_METRICS_PORT` | serve `GET /metrics` on this port (0: any free port, logged); unset: no metrics port |
/// | `--metrics-host` | `SSD_METRICS_HOST` | the address to listen on (default 0.0.0.0, every interface) |
/// | `--metrics-linger` | `SSD_METRICS_LINGER` | seconds to keep serving the final values after the work ended (default 0), so a scrape sees them; SIGINT/SIGTERM ends it |
public struct MetricsPortSettings: Equatable, Sendable {
    /// The variables that stand for `--metrics-port`, `--metrics-host` and `--metrics-linger`.
    public static let portVariable = "SSD_METRICS_PORT", hostVariable = "SSD_METRICS_HOST", lingerVariable = "SSD_METRICS_LINGER"

    /// The address to listen on.
    public var host: String
    /// The port (0: any free port).
    public var port: Int
    /// Seconds to keep serving after the work ended.
    public var linger: Double

    /// Settings as given.
    public init(host: String = "0.0.0.0", port: Int, linger: Double = 0) {
        self.host = host; self.port = port; self.linger = linger
    }

    /// The settings from the flags (nil: not given) and `environment`; nil when neither asks for
    /// a metrics port. Throws for a port outside 0–65535, an empty host or a linger outside 0–86400 s.
    public static func resolve(port: Int?, host: String?, linger: Double?,
                               environment: [String: String]) throws(MetricsPortSettingsError) -> MetricsPortSettings? {
        let chosenPort: Double
        if let port {
            chosenPort = try checked(Double(port), "\(port)", source: "--metrics-port", valid: portRange)
        } else if let text = environment[portVariable] {
            chosenPort = try checked(Int(text.trimmingCharacters(in: .whitespaces)).map(Double.init), text, source: portVariable, valid: portRange)
        } else {
            return nil
        }
        let host = host ?? environment[hostVariable] ?? "0.0.0.0"
        guard !host.isEmpty else {
            throw .invalid(source: "--metrics-host / \(hostVariable)", value: host, expected: "an address such as 0.0.0.0 or 127.0.0.1")
        }
        var seconds = 0.0
        if let linger {
            seconds = try checked(linger, "\(linger)", source: "--metrics-linger", valid: lingerRange)
        } else if let text = environment[lingerVariable] {
            seconds = try checked(Double(text.trimmingCharacters(in: .whitespaces)), text, source: lingerVariable, valid: lingerRange)
        }
        return MetricsPortSettings(host: host, port: Int(chosenPort), linger: seconds)
    }

    private static let portRange = (range: 0.0...65535, expected: "a port 1–65535, or 0 for any free port")
    private static let lingerRange = (range: 0.0...86_400, expected: "seconds from 0 to 86400")

    /// `value` when it was read and lies in `valid.range`; else the error naming `source` and `text`.
    private static func checked(_ value: Double?, _ text: String, source: String,
                                valid: (range: ClosedRange<Double>, expected: String)) throws(MetricsPortSettingsError) -> Double {
        guard let value, valid.range.contains(value) else { throw .invalid(source: source, value: text, expected: valid.expected) }
        return value
    }
}

/// A metrics-port setting that cannot be used (a configuration error: exit status 2).
public enum MetricsPortSettingsError: Error, Equatable, CustomStringConvertible {
    /// `value` from `source` (a flag or variable) is not `expected`.
    case invalid(source: String, value: String, expected: String)

    public var description: String {
        switch self {
        case let .invalid(source, value, expected): return "\(source) \(value): expected \(expected)"
        }
    }
}
