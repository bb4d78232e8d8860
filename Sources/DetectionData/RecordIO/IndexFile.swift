import Foundation

/// An MXNet `.idx` file: one `key<TAB>offset` line per record (MXIndexedRecordIO).
public struct IndexFile: Equatable {
    /// Keys in file order with the byte offset of their record.
    public var entries: [(key: Int, offset: Int)]

    public static func == (a: IndexFile, b: IndexFile) -> Bool {
        a.entries.map(\.key) == b.entries.map(\.key) && a.entries.map(\.offset) == b.entries.map(\.offset)
    }

    /// An index from entries.
    public init(entries: [(key: Int, offset: Int)]) { self.entries = entries }

    /// Reads an index file; a malformed line is an error naming it.
    public init(path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DataError.unreadable(path: path, reason: "not a readable UTF-8 text file")
        }
        var entries: [(Int, Int)] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            let fields = trimmed.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count == 2, let key = Int(fields[0]), let offset = Int(fields[1]), offset >= 0 else {
                throw DataError.badIndexLine(path: path, line: n + 1, text: String(line))
            }
            entries.append((key, offset))
        }
        self.entries = entries
    }

    /// Writes the index as MXNet does.
    public func write(to path: String) throws {
        let text = entries.map { "\($0.key)\t\($0.offset)\n" }.joined()
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw DataError.unreadable(path: path, reason: "cannot write: \(error.localizedDescription)")
        }
    }
}
