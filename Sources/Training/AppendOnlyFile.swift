import Detection
import Foundation

/// A log that only grows (`metrics.jsonl`): opened for appending, never truncated — a resumed
/// run adds to the history — and each record written with one `write(2)`. A record that does
/// not fit (a full disk) is cut back off, so the file stays whole lines, and reported as an
/// error instead of ending the process.
final class AppendOnlyFile {
    let path: String
    private let fd: Int32

    init(path: String) throws(DurableFile.WriteError) {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DurableFile.WriteError(path: path, operation: "open", errno: errno) }
    }

    deinit { close(fd) }

    /// Appends `data` whole, or throws and leaves the file as it was.
    func append(_ data: Data) throws(DurableFile.WriteError) {
        let before = lseek(fd, 0, SEEK_END)
        let result: Int32? = data.withUnsafeBytes { bytes in
            var written = 0
            while written < bytes.count {
                let n = write(fd, bytes.baseAddress! + written, bytes.count - written)
                if n > 0 { written += n } else if n < 0 && errno == EINTR { continue } else { return n == 0 ? EIO : errno }
            }
            return nil
        }
        if let code = result {
            if before >= 0 { _ = ftruncate(fd, before) }
            throw DurableFile.WriteError(path: path, operation: "write", errno: code)
        }
    }

    /// Flushes what was appended to the disk.
    func sync() throws(DurableFile.WriteError) {
        guard fsync(fd) == 0 else { throw DurableFile.WriteError(path: path, operation: "fsync", errno: errno) }
    }
}
