import Foundation

/// An MXNet `.lst` file as `im2rec` and the SSD example's tools write it: tab-separated
/// `index, label values…, relative image path` per line; detection labels are
/// `[2, object width, objects…]` with normalized corners.
public struct ListFile: Equatable, Sendable {
    /// One line.
    public struct Entry: Equatable, Sendable {
        public var index: Int
        public var label: [Float]
        public var path: String

        public init(index: Int, label: [Float], path: String) { self.index = index; self.label = label; self.path = path }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) { self.entries = entries }

    /// Parses a `.lst` file; a malformed line is an error naming it.
    public init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DataError.unreadable(path: path, reason: "not a readable UTF-8 text file")
        }
        var entries: [Entry] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let fields = trimmed.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 3 else {
                throw DataError.badListLine(path: path, line: n + 1, reason: "needs index, label values and an image path separated by tabs")
            }
            guard let index = Int(fields[0]) else {
                throw DataError.badListLine(path: path, line: n + 1, reason: "index \"\(fields[0])\" is not an integer")
            }
            var label: [Float] = []
            for f in fields[1..<(fields.count - 1)] {
                guard let v = Float(f.trimmingCharacters(in: .whitespaces)) else {
                    throw DataError.badListLine(path: path, line: n + 1, reason: "label value \"\(f)\" is not a number")
                }
                label.append(v)
            }
            entries.append(Entry(index: index, label: label, path: fields[fields.count - 1]))
        }
        self.entries = entries
    }

    /// The file's text (labels with 4 decimals, as the SSD example writes them).
    public var text: String {
        entries.map { e in
            ([String(e.index)] + e.label.map { v in v == v.rounded() && abs(v) < 1e6 ? String(Int(v)) : String(format: "%.4f", v) } + [e.path])
                .joined(separator: "\t")
        }.joined(separator: "\n") + "\n"
    }
}
