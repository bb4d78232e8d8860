import Foundation

/// MXNet's `.lst` image list: `index \t label values... \t relative/path.jpg` per line, with a
/// detection label [2, object_width, cls, xmin, ymin, xmax, ymax, ...] in normalized corners.
public enum ListFile {
    /// One line of a list file.
    public struct Entry: Equatable, Sendable {
        /// The index column.
        public var index: Int
        /// The label columns as floats.
        public var label: [Float]
        /// The image path relative to the image root.
        public var path: String
        /// Creates an entry.
        public init(index: Int, label: [Float], path: String) { self.index = index; self.label = label; self.path = path }
    }

    /// Reads a list file; a malformed line is an error naming the line.
    public static func read(path: String) throws -> [Entry] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DetectionDataError.io(path: path, reason: "cannot read list file")
        }
        var out: [Entry] = []
        for (n, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let text = line.trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
            if text.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            let fields = text.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3 else {
                throw DetectionDataError.badLine(file: path, line: n + 1, text: text, reason: "expected `index<TAB>label...<TAB>path` (at least 3 tab-separated fields)")
            }
            guard let index = Int(fields[0]) ?? Double(fields[0]).flatMap({ Int(exactly: $0) }) else {
                throw DetectionDataError.badLine(file: path, line: n + 1, text: text, reason: "index \"\(fields[0])\" is not an integer")
            }
            var label: [Float] = []
            for f in fields[1..<(fields.count - 1)] {
                guard let v = Float(f) else {
                    throw DetectionDataError.badLine(file: path, line: n + 1, text: text, reason: "label value \"\(f)\" is not a number")
                }
                label.append(v)
            }
            out.append(Entry(index: index, label: label, path: fields[fields.count - 1]))
        }
        return out
    }

    /// Formats one entry the way `imdb.py::save_imglist` does ("%.4f" values, tab-separated).
    public static func line(_ e: Entry) -> String {
        ([String(e.index)] + e.label.map { String(format: "%.4f", $0) } + [e.path]).joined(separator: "\t")
    }
}
