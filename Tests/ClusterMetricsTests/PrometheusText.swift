/// A scrape's samples by series (`name` or `name{label="value",…}` exactly as exposed), read
/// from Prometheus's text format; comment lines are skipped.
struct PrometheusText {
    var samples: [String: Double] = [:]
    let text: String

    init(_ text: String) {
        self.text = text
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            let value = line[line.index(after: space)...]
            samples[String(line[..<space])] = value == "+Inf" ? .infinity : Double(value)
        }
    }

    subscript(_ series: String) -> Double? { samples[series] }

    /// A histogram's cumulative bucket counts in bucket order (`+Inf` last).
    func buckets(_ name: String) -> [(le: Double, count: Double)] {
        samples.compactMap { series, count -> (Double, Double)? in
            guard series.hasPrefix("\(name)_bucket{le=\""), series.hasSuffix("\"}") else { return nil }
            let le = series.dropFirst("\(name)_bucket{le=\"".count).dropLast(2)
            return (le == "+Inf" ? .infinity : Double(le) ?? .nan, count)
        }.sorted { $0.0 < $1.0 }
    }

    /// Whether `name` is a well-formed histogram: cumulative buckets never decrease and the
    /// `+Inf` bucket equals `_count`.
    func isConsistentHistogram(_ name: String) -> Bool {
        let b = buckets(name)
        guard let last = b.last, last.le == .infinity, let count = self["\(name)_count"], self["\(name)_sum"] != nil else { return false }
        return zip(b, b.dropFirst()).allSatisfy { $0.count <= $1.count } && last.count == count
    }
}
