import Detection

/// SageMaker Object Detection's response body: `{"prediction": [[class, score, xmin, ymin,
/// xmax, ymax], …]}` (facts E.4) — class 0-based as a float (`4.0`), corners normalized to the
/// image, every detection the model returns, best first. Numbers are written as Python's
/// `json.dumps` writes the float32 values MXNet returns (shortest text that reads back the
/// same double). With `labels`, a parallel `"labels": ["dog", …]` list is added.
public enum PredictionJSON {
    public static func encode(_ detections: [MultiBoxDetection.Detection], labels: [String]? = nil) -> String {
        var out = "{\"prediction\": ["
        for (i, d) in detections.enumerated() {
            if i > 0 { out += ", " }
            out += "[" + ([Float(d.classId), d.score] + d.box).map { number(Double($0)) }.joined(separator: ", ") + "]"
        }
        out += "]"
        if let labels {
            out += ", \"labels\": [" + labels.map(quoted).joined(separator: ", ") + "]"
        }
        return out + "}"
    }

    /// A double as Python's `repr` writes it: shortest round trip, `.0` on integral values.
    static func number(_ v: Double) -> String {
        guard v.isFinite else { return "null" }
        return "\(v)"
    }

    /// A JSON string literal.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
