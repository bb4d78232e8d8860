import Foundation

/// A value as one line of JSON for scripts and tests to read: keys sorted, slashes left
/// unescaped so paths stay readable. What `ssd eval --json`, `ssd kv-probe` and the worker's
/// summary line print.
public enum JSONLine {
    /// `value` encoded on one line.
    public static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
